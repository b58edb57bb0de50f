// Command receipt checks one loopgate transfer receipt (SPEC.md section 3) the way an outside
// party would, with Go's golang.org/x/mod/sumdb/note and golang.org/x/mod/sumdb/tlog only:
//
//	receipt RECEIPT.json VERIFIER_KEY_FILE
//
// The checkpoint must be a signed note that verifies with the key, its body a C2SP
// tlog-checkpoint (origin = the key's name, tree size, base64 root), the leaf hash must be
// RFC 9162's hash of the leaf's exact bytes, and the inclusion proof must lead from it to the
// checkpoint's root. The fields beside the leaf, outside every hash, must say what the leaf
// says: `record` is the leaf parsed, `transfer_id` and `shipment_id` (when named) are the
// record's, `upstream_status`, when
// both state one, is the record's, and `sha256_hex`, when given, is the record's base64
// `sha256` in hex. Prints "receipt ok ..." and exits 0, or names the failure
// and exits 1. (The same checks as loopgate's own verifier, written from SPEC.md section 3.)
package main

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

type receipt struct {
	TransferID     *string         `json:"transfer_id"`
	ShipmentID     *string         `json:"shipment_id"`
	LogIndex       int64           `json:"log_index"`
	Leaf           string          `json:"leaf"`
	Record         json.RawMessage `json:"record"`
	LeafHash       string          `json:"leaf_hash"`
	Checkpoint     string          `json:"checkpoint"`
	InclusionProof []string        `json:"inclusion_proof"`
	UpstreamStatus *float64        `json:"upstream_status"`
	Sha256Hex      *string         `json:"sha256_hex"`
}

// besideTheLeaf checks that what the receipt says beside the leaf agrees with the leaf.
func besideTheLeaf(r receipt) {
	var leaf map[string]interface{}
	if err := json.Unmarshal([]byte(r.Leaf), &leaf); err != nil {
		fail("leaf is not a JSON object: %v", err)
	}
	var record interface{}
	if err := json.Unmarshal(r.Record, &record); err != nil || !reflect.DeepEqual(record, interface{}(leaf)) {
		fail("record differs from leaf")
	}
	if id, ok := leaf["transfer_id"]; ok && r.TransferID != nil && id != *r.TransferID {
		fail("the record belongs to another transfer")
	}
	if id, ok := leaf["shipment_id"]; ok && r.ShipmentID != nil && id != *r.ShipmentID {
		fail("the record belongs to another shipment")
	}
	if logged, ok := leaf["upstream_status"]; ok && r.UpstreamStatus != nil && logged != *r.UpstreamStatus {
		fail("upstream_status differs from the record's")
	}
	if r.Sha256Hex != nil {
		digest, _ := leaf["sha256"].(string)
		raw, err := base64.StdEncoding.DecodeString(digest)
		if digest == "" || err != nil || hex.EncodeToString(raw) != *r.Sha256Hex {
			fail("sha256_hex is not the record's sha256")
		}
	}
}

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "receipt: "+format+"\n", args...)
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

func main() {
	if len(os.Args) != 3 {
		fail("usage: receipt RECEIPT.json VERIFIER_KEY_FILE")
	}
	raw, err := os.ReadFile(os.Args[1])
	if err != nil {
		fail("%v", err)
	}
	var r receipt
	if err := json.Unmarshal(raw, &r); err != nil {
		fail("not a receipt: %v", err)
	}
	key, err := os.ReadFile(os.Args[2])
	if err != nil {
		fail("%v", err)
	}
	verifier, err := note.NewVerifier(strings.TrimSpace(string(key)))
	if err != nil {
		fail("verifier key: %v", err)
	}
	n, err := note.Open([]byte(r.Checkpoint), note.VerifierList(verifier))
	if err != nil {
		fail("checkpoint signature: %v", err)
	}
	lines := strings.Split(n.Text, "\n")
	if len(lines) != 4 || lines[3] != "" || lines[0] != verifier.Name() {
		fail("checkpoint body is not origin/size/root for %s: %q", verifier.Name(), n.Text)
	}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil || size <= r.LogIndex {
		fail("checkpoint size %q does not cover index %d", lines[1], r.LogIndex)
	}
	root := hash(lines[2])
	besideTheLeaf(r)
	leaf := tlog.RecordHash([]byte(r.Leaf))
	if leaf != hash(r.LeafHash) {
		fail("leaf_hash is not the hash of leaf")
	}
	proof := make(tlog.RecordProof, len(r.InclusionProof))
	for i, h := range r.InclusionProof {
		proof[i] = hash(h)
	}
	if err := tlog.CheckRecord(proof, size, root, r.LogIndex, leaf); err != nil {
		fail("inclusion of %d in %d: %v", r.LogIndex, size, err)
	}
	fmt.Printf("receipt ok: record %d in tree of size %d\n", r.LogIndex, size)
}
