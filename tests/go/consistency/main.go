// Command consistency checks one loopgate consistency proof (GET /v1/audit/proof/consistency)
// between two signed checkpoints the way an outside party would, with Go's
// golang.org/x/mod/sumdb/note and golang.org/x/mod/sumdb/tlog only:
//
//	consistency OLD_CHECKPOINT NEW_CHECKPOINT PROOF.json VERIFIER_KEY_FILE
//
// Both checkpoints must be signed notes that verify with the key, their bodies C2SP
// tlog-checkpoints (origin = the key's name, tree size, base64 root); the proof's from and to
// must be their sizes, and its hashes must prove the newer tree extends the older one. Prints
// "consistency ok ..." and exits 0, or names the failure and exits 1.
package main

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

type proof struct {
	From   int64    `json:"from"`
	To     int64    `json:"to"`
	Hashes []string `json:"hashes"`
}

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "consistency: "+format+"\n", args...)
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

func read(path string) []byte {
	b, err := os.ReadFile(path)
	if err != nil {
		fail("%v", err)
	}
	return b
}

// checkpoint opens a signed checkpoint: its tree size and root hash.
func checkpoint(path string, verifier note.Verifier) (int64, tlog.Hash) {
	n, err := note.Open(read(path), note.VerifierList(verifier))
	if err != nil {
		fail("%s: checkpoint signature: %v", path, err)
	}
	lines := strings.Split(n.Text, "\n")
	if len(lines) != 4 || lines[3] != "" || lines[0] != verifier.Name() {
		fail("%s: checkpoint body is not origin/size/root for %s: %q", path, verifier.Name(), n.Text)
	}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil || size < 1 {
		fail("%s: bad tree size %q", path, lines[1])
	}
	return size, hash(lines[2])
}

func main() {
	if len(os.Args) != 5 {
		fail("usage: consistency OLD_CHECKPOINT NEW_CHECKPOINT PROOF.json VERIFIER_KEY_FILE")
	}
	verifier, err := note.NewVerifier(strings.TrimSpace(string(read(os.Args[4]))))
	if err != nil {
		fail("verifier key: %v", err)
	}
	oldSize, oldRoot := checkpoint(os.Args[1], verifier)
	newSize, newRoot := checkpoint(os.Args[2], verifier)
	var p proof
	if err := json.Unmarshal(read(os.Args[3]), &p); err != nil {
		fail("not a consistency proof: %v", err)
	}
	if p.From != oldSize || p.To != newSize {
		fail("proof is from %d to %d, the checkpoints are %d and %d", p.From, p.To, oldSize, newSize)
	}
	tree := make(tlog.TreeProof, len(p.Hashes))
	for i, h := range p.Hashes {
		tree[i] = hash(h)
	}
	if err := tlog.CheckTree(tree, newSize, newRoot, oldSize, oldRoot); err != nil {
		fail("tree of %d does not extend tree of %d: %v", newSize, oldSize, err)
	}
	fmt.Printf("consistency ok: tree of size %d extends tree of size %d\n", newSize, oldSize)
}
