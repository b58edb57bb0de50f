// Command tiles checks a mirror of loopgate's log as C2SP tlog-tiles (GET /v1/audit/tile/...)
// the way an outside party would, with Go's golang.org/x/mod/sumdb/note and
// golang.org/x/mod/sumdb/tlog only:
//
//	tiles DIR VERIFIER_KEY_FILE
//
// DIR holds what was downloaded, under the paths the URLs name below /v1/audit/: checkpoint
// (a signed note that must verify with the key, its body a C2SP tlog-checkpoint), the hash
// tiles tile/<L>/<N>[.p/<W>] and the entry bundles tile/entries/<N>[.p/<W>] of the
// checkpoint's tree (tile height 8; N in 3-digit groups, all but the last prefixed x). The
// hash tiles are read through tlog.TileHashReader, which checks
// the tiles of the tree's right edge against the checkpoint's root (the tree hash is also
// recomputed from them); every entry bundle is parsed (big-endian uint16 length, entry), each
// entry's RFC 6962 leaf hash must equal its hash in the level-0 tile (tlog.ReadTileData), and
// each record's inclusion proof, made from the tiles by tlog.ProveRecord, must check against
// the root. That last check binds every level-0 hash to the root: this version of
// TileHashReader skips authenticating other full tiles against their parents when the right
// edge's hashes share tiles (its loop starts at the number of edge hashes, not edge tiles), so
// a wrong byte in tile/0/001 of a 603-record tree gets through it and fails here. Prints
// "tiles ok ..." and exits 0, or names the failure and exits 1.
package main

import (
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

const height = 8

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "tiles: "+format+"\n", args...)
	os.Exit(1)
}

func read(path string) []byte {
	b, err := os.ReadFile(path)
	if err != nil {
		fail("%v", err)
	}
	return b
}

// path is a tile's path in C2SP tlog-tiles (no height element, unlike Go's sumdb paths).
func path(level string, n int64, w int) string {
	s := fmt.Sprintf("%03d", n%1000)
	for n >= 1000 {
		n /= 1000
		s = fmt.Sprintf("x%03d/%s", n%1000, s)
	}
	p := "tile/" + level + "/" + s
	if w < 1<<height {
		p += fmt.Sprintf(".p/%d", w)
	}
	return p
}

// files reads the hash tiles tlog asks for from the mirror.
type files struct{ dir string }

func (f files) Height() int { return height }

func (f files) ReadTiles(tiles []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(tiles))
	for i, t := range tiles {
		b, err := os.ReadFile(filepath.Join(f.dir, path(strconv.Itoa(t.L), t.N, t.W)))
		if err != nil {
			return nil, err
		}
		out[i] = b
	}
	return out, nil
}

func (f files) SaveTiles([]tlog.Tile, [][]byte) {}

func main() {
	if len(os.Args) != 3 {
		fail("usage: tiles DIR VERIFIER_KEY_FILE")
	}
	dir := os.Args[1]
	verifier, err := note.NewVerifier(strings.TrimSpace(string(read(os.Args[2]))))
	if err != nil {
		fail("verifier key: %v", err)
	}
	n, err := note.Open(read(filepath.Join(dir, "checkpoint")), note.VerifierList(verifier))
	if err != nil {
		fail("checkpoint signature: %v", err)
	}
	lines := strings.Split(n.Text, "\n")
	if len(lines) != 4 || lines[3] != "" || lines[0] != verifier.Name() {
		fail("checkpoint body is not origin/size/root for %s: %q", verifier.Name(), n.Text)
	}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil || size < 1 {
		fail("bad tree size %q", lines[1])
	}
	rootBytes, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(rootBytes) != tlog.HashSize {
		fail("bad root hash %q", lines[2])
	}
	var root tlog.Hash
	copy(root[:], rootBytes)

	hashes := tlog.TileHashReader(tlog.Tree{N: size, Hash: root}, files{dir})
	treeHash, err := tlog.TreeHash(size, hashes)
	if err != nil {
		fail("tree hash from the tiles: %v", err)
	}
	if treeHash != root {
		fail("the tiles hash to %v, the checkpoint says %v", treeHash, root)
	}

	bundles := 0
	for start := int64(0); start < size; start += 1 << height {
		w := int(size - start)
		if w > 1<<height {
			w = 1 << height
		}
		bundle := start >> height
		p := path("entries", bundle, w)
		data := read(filepath.Join(dir, p))
		tile := tlog.Tile{H: height, L: 0, N: bundle, W: w}
		leaves, err := tlog.ReadTileData(tile, hashes)
		if err != nil {
			fail("level-0 tile %d of width %d: %v", bundle, w, err)
		}
		for i := 0; i < w; i++ {
			if len(data) < 2 {
				fail("%s: entry %d of %d is missing", p, i, w)
			}
			l := int(binary.BigEndian.Uint16(data))
			if len(data) < 2+l {
				fail("%s: entry %d is cut short", p, i)
			}
			entry := data[2 : 2+l]
			data = data[2+l:]
			index := start + int64(i)
			leaf := tlog.RecordHash(entry)
			var inTile tlog.Hash
			copy(inTile[:], leaves[i*tlog.HashSize:])
			if leaf != inTile {
				fail("%s: record %d hashes to %v, its level-0 tile says %v", p, index, leaf, inTile)
			}
			proof, err := tlog.ProveRecord(size, index, hashes)
			if err != nil {
				fail("inclusion proof of record %d from the tiles: %v", index, err)
			}
			if err := tlog.CheckRecord(proof, size, root, index, leaf); err != nil {
				fail("record %d is not in the tree: %v", index, err)
			}
		}
		if len(data) != 0 {
			fail("%s: %d bytes after its %d entries", p, len(data), w)
		}
		bundles++
	}
	fmt.Printf("tiles ok: tree of size %d, root %v: %d records in %d entry bundles match the level-0 tiles and are proven in the tree\n", size, root, size, bundles)
}
