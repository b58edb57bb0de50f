// Verification in this browser, with WebCrypto only: a record's leaf hash (RFC 9162 2.1.1),
// its inclusion proof folded to a root (RFC 9162 2.1.3.2), the checkpoint (C2SP tlog-checkpoint,
// a C2SP signed note) and its Ed25519 signature by the PINNED log key, and the witnesses'
// cosignature/v1 lines (C2SP tlog-cosignature) by the PINNED witness keys. Nothing the gateway
// sends is trusted: the leaf hash is recomputed from the leaf, the root from the proof, and the
// only keys used are those the regulator saved in this browser.
"use strict";

(function () {
  const enc = new TextEncoder();

  class NotVerified extends Error {}

  function fail(reason) {
    throw new NotVerified(reason);
  }

  function b64decode(text, what) {
    let bin;
    try {
      bin = atob(text);
    } catch (e) {
      fail(what + " is not base64");
    }
    const out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  }

  function b64encode(bytes) {
    let bin = "";
    for (const b of bytes) bin += String.fromCharCode(b);
    return btoa(bin);
  }

  function hex(bytes) {
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  function concat(...parts) {
    const n = parts.reduce((s, p) => s + p.length, 0);
    const out = new Uint8Array(n);
    let at = 0;
    for (const p of parts) {
      out.set(p, at);
      at += p.length;
    }
    return out;
  }

  function equal(a, b) {
    if (a.length !== b.length) return false;
    let d = 0;
    for (let i = 0; i < a.length; i++) d |= a[i] ^ b[i];
    return d === 0;
  }

  async function sha256(bytes) {
    return new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  }

  // RFC 9162 2.1.1: the leaf hash is SHA-256(0x00 || leaf); an interior node SHA-256(0x01 || l || r).
  async function leafHash(leafBytes) {
    return sha256(concat(new Uint8Array([0]), leafBytes));
  }

  async function nodeHash(left, right) {
    return sha256(concat(new Uint8Array([1]), left, right));
  }

  // RFC 9162 2.1.3.2: folds the inclusion proof of `index` in a tree of `size` leaves.
  async function rootFromInclusion(index, size, leaf, proof) {
    if (!(index < size)) fail("the record's index is not below the checkpoint's size");
    let fn = index;
    let sn = size - 1;
    let r = leaf;
    for (const p of proof) {
      if (sn === 0) fail("proof does not lead to the checkpoint's root (it is too long)");
      if (fn % 2 === 1 || fn === sn) {
        r = await nodeHash(p, r);
        if (fn % 2 === 0) {
          while (fn % 2 === 0 && fn !== 0) {
            fn = Math.floor(fn / 2);
            sn = Math.floor(sn / 2);
          }
        }
      } else {
        r = await nodeHash(r, p);
      }
      fn = Math.floor(fn / 2);
      sn = Math.floor(sn / 2);
    }
    if (sn !== 0) fail("proof does not lead to the checkpoint's root (it is too short)");
    return r;
  }

  // C2SP signed-note: the text, a blank line, then signature lines `— <name> <base64>`.
  function parseNote(text) {
    const split = text.lastIndexOf("\n\n");
    if (split < 0) fail("the checkpoint is not a signed note");
    const body = text.slice(0, split + 1);
    const block = text.slice(split + 2);
    if (!block.endsWith("\n")) fail("the checkpoint's signatures do not end with a newline");
    const signatures = block
      .slice(0, -1)
      .split("\n")
      .map((line) => {
        if (!line.startsWith("\u2014 ")) fail("the checkpoint has a malformed signature line");
        const rest = line.slice(2);
        const space = rest.indexOf(" ");
        if (space < 1) fail("the checkpoint has a malformed signature line");
        return { name: rest.slice(0, space), bytes: b64decode(rest.slice(space + 1), "a signature") };
      });
    const lines = body.split("\n");
    if (lines.length < 4) fail("the checkpoint lacks its origin, size or root");
    const origin = lines[0];
    if (!/^(0|[1-9][0-9]*)$/.test(lines[1])) fail("the checkpoint's size is not a number");
    const size = Number(lines[1]);
    if (!Number.isSafeInteger(size)) fail("the checkpoint's size is too large for this browser");
    const root = b64decode(lines[2], "the checkpoint's root");
    if (root.length !== 32) fail("the checkpoint's root is not 32 bytes");
    return { origin, size, root, body: enc.encode(body), signatures };
  }

  // A note verifier key `<name>+<hex key id>+<base64(type || public key)>`, checked: the key id
  // is SHA-256(name || 0x0A || type || key)[:4].
  async function parseVerifierKey(text, type, what) {
    // Split at the first two '+' only: the base64 key may hold more.
    const trimmed = text.trim();
    const first = trimmed.indexOf("+");
    const second = first < 0 ? -1 : trimmed.indexOf("+", first + 1);
    const name = first > 0 ? trimmed.slice(0, first) : "";
    const hexId = second > 0 ? trimmed.slice(first + 1, second) : "";
    const b64 = second > 0 ? trimmed.slice(second + 1) : "";
    if (!name || !/^[0-9a-fA-F]{8}$/.test(hexId) || !b64) {
      fail(what + " is not <name>+<hex key id>+<base64 key>");
    }
    let data;
    try {
      data = b64decode(b64, what);
    } catch (e) {
      fail(what + " is not <name>+<hex key id>+<base64 key>");
    }
    if (data.length !== 33 || data[0] !== type) {
      fail(what + (type === 1 ? " is not an Ed25519 note key (type 0x01)" : " is not a cosignature/v1 key (type 0x04)"));
    }
    const id = (await sha256(concat(enc.encode(name + "\n"), data))).slice(0, 4);
    if (hex(id) !== hexId.toLowerCase()) fail(what + "'s key id does not match its key");
    let key;
    try {
      key = await crypto.subtle.importKey("raw", data.slice(1), { name: "Ed25519" }, false, ["verify"]);
    } catch (e) {
      fail("this browser has no Ed25519 in WebCrypto (" + e.name + ")");
    }
    return { name, id, key };
  }

  async function ed25519(key, signature, message) {
    try {
      return await crypto.subtle.verify({ name: "Ed25519" }, key, signature, message);
    } catch (e) {
      return false;
    }
  }

  // The witnesses whose cosignature/v1 line verifies: message `cosignature/v1\ntime <T>\n` + body,
  // signature keyid(4) || time (u64 big-endian) || Ed25519 signature (64).
  async function cosigned(note, witnesses) {
    const good = [];
    for (const w of witnesses) {
      for (const sig of note.signatures) {
        if (sig.name !== w.name || sig.bytes.length !== 76 || !equal(sig.bytes.slice(0, 4), w.id)) continue;
        const view = new DataView(sig.bytes.buffer, sig.bytes.byteOffset + 4, 8);
        const time = view.getBigUint64(0, false);
        if (time === 0n || time >= 2n ** 63n) continue;
        const message = concat(enc.encode("cosignature/v1\ntime " + time.toString() + "\n"), note.body);
        if (await ed25519(w.key, sig.bytes.slice(12), message)) {
          good.push({ name: w.name, time: Number(time) });
          break;
        }
      }
    }
    return good;
  }

  // Sorted-key JSON, to compare the record the gateway parsed with the leaf it sent.
  function canonical(value) {
    if (Array.isArray(value)) return "[" + value.map(canonical).join(",") + "]";
    if (value && typeof value === "object") {
      return "{" + Object.keys(value).sort().map((k) => JSON.stringify(k) + ":" + canonical(value[k])).join(",") + "}";
    }
    return JSON.stringify(value);
  }

  // Verifies `entry` (the answer of GET /v1/audit/records/{i}: leaf, leaf_hash, record,
  // checkpoint, inclusion_proof) against the pinned `keys` ({log, witnesses, quorum}).
  // Resolves to {ok: true, detail} or {ok: false, reason}.
  async function verifyEntry(entry, keys) {
    try {
      if (!window.crypto || !crypto.subtle) fail("this page has no WebCrypto (it needs HTTPS)");
      if (!keys || !keys.log || !keys.log.trim()) fail("no key pinned");
      if (typeof entry.leaf !== "string") fail("the answer has no leaf");
      const leafBytes = enc.encode(entry.leaf);
      const computed = await leafHash(leafBytes);
      if (b64encode(computed) !== entry.leaf_hash) fail("leaf hash does not match the leaf");
      let parsed;
      try {
        parsed = JSON.parse(entry.leaf);
      } catch (e) {
        fail("the leaf is not JSON");
      }
      if (entry.record !== undefined && canonical(parsed) !== canonical(entry.record)) {
        fail("the record shown is not the one in the leaf");
      }
      if (typeof entry.checkpoint !== "string") fail("the answer has no checkpoint");
      const note = parseNote(entry.checkpoint);
      const proof = (entry.inclusion_proof || []).map((h) => {
        const bytes = b64decode(h, "a proof hash");
        if (bytes.length !== 32) fail("a proof hash is not 32 bytes");
        return bytes;
      });
      const root = await rootFromInclusion(Number(entry.log_index), note.size, computed, proof);
      if (!equal(root, note.root)) fail("proof does not lead to the checkpoint's root");
      const log = await parseVerifierKey(keys.log, 1, "the pinned log key");
      const line = note.signatures.find((s) => s.name === log.name && s.bytes.length === 68 && equal(s.bytes.slice(0, 4), log.id));
      if (!line) fail("checkpoint signature does not verify with the pinned key (no signature by " + log.name + " with key id " + hex(log.id) + ")");
      if (!(await ed25519(log.key, line.bytes.slice(4), note.body))) {
        fail("checkpoint signature does not verify with the pinned key");
      }
      const texts = (keys.witnesses || "").split("\n").map((l) => l.trim()).filter((l) => l);
      const witnesses = [];
      for (const t of texts) witnesses.push(await parseVerifierKey(t, 4, "a pinned witness key"));
      let detail = "tree size " + note.size + ", root " + b64encode(note.root);
      if (witnesses.length) {
        const quorum = keys.quorum ? Number(keys.quorum) : witnesses.length;
        const good = await cosigned(note, witnesses);
        if (good.length < quorum) {
          fail("only " + good.length + " of the pinned witnesses cosigned the checkpoint; the quorum is " + quorum);
        }
        detail += ", cosigned by " + good.map((g) => g.name).join(", ");
      }
      return { ok: true, detail, size: note.size, root: b64encode(note.root) };
    } catch (e) {
      if (e instanceof NotVerified) return { ok: false, reason: e.message };
      return { ok: false, reason: "verification failed: " + (e && e.message ? e.message : String(e)) };
    }
  }

  window.LoopgateVerify = { verifyEntry, parseNote, parseVerifierKey, rootFromInclusion, leafHash };
})();
