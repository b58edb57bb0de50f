// Command interop checks loopgate-audit's checkpoints and proofs with Go's
// golang.org/x/mod/sumdb/note and golang.org/x/mod/sumdb/tlog. It reads the
// JSON case file named on the command line (written by audit/tests/interop.rs)
// and exits non-zero with a message on the first disagreement.
package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

type checkpoint struct {
	Text string `json:"text"`
	Body string `json:"body"`
}

type inclusion struct {
	Index int64    `json:"index"`
	Size  int64    `json:"size"`
	Proof []string `json:"proof"`
}

type consistency struct {
	From  int64    `json:"from"`
	To    int64    `json:"to"`
	Proof []string `json:"proof"`
}

type cases struct {
	SignerKey   string        `json:"signer_key"`
	VerifierKey string        `json:"verifier_key"`
	Leaves      []string      `json:"leaves"`
	Checkpoints []checkpoint  `json:"checkpoints"`
	Inclusion   []inclusion   `json:"inclusion"`
	Consistency []consistency `json:"consistency"`
}

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "interop: "+format+"\n", args...)
	os.Exit(1)
}

func hash(s string) tlog.Hash {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(b) != tlog.HashSize {
		fail("bad hash %q", s)
	}
	var h tlog.Hash
	copy(h[:], b)
	return h
}

func hashes(ss []string) []tlog.Hash {
	out := make([]tlog.Hash, len(ss))
	for i, s := range ss {
		out[i] = hash(s)
	}
	return out
}

func main() {
	raw, err := os.ReadFile(os.Args[1])
	if err != nil {
		fail("%v", err)
	}
	var c cases
	if err := json.Unmarshal(raw, &c); err != nil {
		fail("%v", err)
	}

	// The tree, built by tlog from the raw leaves.
	var stored []tlog.Hash
	reader := tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(idx))
		for i, x := range idx {
			out[i] = stored[x]
		}
		return out, nil
	})
	leafHashes := make([]tlog.Hash, len(c.Leaves))
	for i, l := range c.Leaves {
		data, err := base64.StdEncoding.DecodeString(l)
		if err != nil {
			fail("leaf %d: %v", i, err)
		}
		leafHashes[i] = tlog.RecordHash(data)
		h, err := tlog.StoredHashes(int64(i), data, reader)
		if err != nil {
			fail("leaf %d: %v", i, err)
		}
		stored = append(stored, h...)
	}
	root := func(n int64) tlog.Hash {
		th, err := tlog.TreeHash(n, reader)
		if err != nil {
			fail("tree hash %d: %v", n, err)
		}
		return th
	}

	// Checkpoints: signature by note, body as C2SP tlog-checkpoint, root by tlog.
	verifier, err := note.NewVerifier(c.VerifierKey)
	if err != nil {
		fail("verifier key: %v", err)
	}
	signer, err := note.NewSigner(c.SignerKey)
	if err != nil {
		fail("signer key: %v", err)
	}
	for i, cp := range c.Checkpoints {
		n, err := note.Open([]byte(cp.Text), note.VerifierList(verifier))
		if err != nil {
			fail("checkpoint %d: note.Open: %v", i, err)
		}
		if n.Text != cp.Body {
			fail("checkpoint %d: text %q, want %q", i, n.Text, cp.Body)
		}
		again, err := note.Sign(&note.Note{Text: cp.Body}, signer)
		if err != nil || !bytes.Equal(again, []byte(cp.Text)) {
			fail("checkpoint %d: Go signs it differently:\n%s\nvs\n%s", i, again, cp.Text)
		}
		lines := strings.Split(n.Text, "\n")
		if len(lines) != 4 || lines[0] != verifier.Name() {
			fail("checkpoint %d: malformed body %q", i, n.Text)
		}
		size, err := strconv.ParseInt(lines[1], 10, 64)
		if err != nil {
			fail("checkpoint %d: size: %v", i, err)
		}
		if got := root(size); got != hash(lines[2]) {
			fail("checkpoint %d: root of size %d is %v, checkpoint says %s", i, size, got, lines[2])
		}
	}

	for _, p := range c.Inclusion {
		proof := tlog.RecordProof(hashes(p.Proof))
		if err := tlog.CheckRecord(proof, p.Size, root(p.Size), p.Index, leafHashes[p.Index]); err != nil {
			fail("inclusion of %d in %d: %v", p.Index, p.Size, err)
		}
		want, err := tlog.ProveRecord(p.Size, p.Index, reader)
		if err != nil || len(want) != len(proof) {
			fail("inclusion of %d in %d: tlog proves %v (%v)", p.Index, p.Size, want, err)
		}
		for i := range want {
			if want[i] != proof[i] {
				fail("inclusion of %d in %d: hash %d differs from tlog's", p.Index, p.Size, i)
			}
		}
	}
	for _, p := range c.Consistency {
		proof := tlog.TreeProof(hashes(p.Proof))
		if err := tlog.CheckTree(proof, p.To, root(p.To), p.From, root(p.From)); err != nil {
			fail("consistency %d -> %d: %v", p.From, p.To, err)
		}
		want, err := tlog.ProveTree(p.To, p.From, reader)
		if err != nil || len(want) != len(proof) {
			fail("consistency %d -> %d: tlog proves %v (%v)", p.From, p.To, want, err)
		}
		for i := range want {
			if want[i] != proof[i] {
				fail("consistency %d -> %d: hash %d differs from tlog's", p.From, p.To, i)
			}
		}
	}
	fmt.Printf("interop ok: %d checkpoints, %d inclusion proofs, %d consistency proofs\n",
		len(c.Checkpoints), len(c.Inclusion), len(c.Consistency))
}
