// "Check this score", in the reader's browser, with WebCrypto and nothing else: the same checks
// scripts/verify.py makes of one tool's score proof (docs/audit.md is the protocol). It trusts no
// byte the ledger sends until it has recomputed it: the checkpoint's Ed25519 signature and its
// witness cosignatures, each leaf hash from the event's canonical bytes, each inclusion proof up
// to the signed root, then the recount. Without this file (or WebCrypto) the button stays hidden
// and the page says how to run scripts/verify.py instead.
"use strict";
(() => {
  const PAGE = 64; // /v1/audit/leaves answers at most this many leaves per request
  const ED25519 = 0x01; // signed-note signature type of the log's key
  const COSIGNATURE = 0x04; // C2SP cosignature/v1 (timestamped Ed25519)
  const subtle = window.crypto && window.crypto.subtle;
  const utf8 = new TextEncoder();

  /** The ledger gave evidence that does not check: the message names what and where. */
  class Failed extends Error {}
  /** The check could not run (network, browser): nothing is proven either way. */
  class CouldNot extends Error {}

  // -- bytes ------------------------------------------------------------------------------------

  function b64(text, what) {
    let raw;
    try {
      raw = atob(String(text));
    } catch (error) {
      throw new Failed(`${what} is not base64`);
    }
    return Uint8Array.from(raw, (c) => c.charCodeAt(0));
  }
  const toB64 = (bytes) => btoa(String.fromCharCode(...bytes));
  const hex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  const equal = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);
  function concat(...parts) {
    const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of parts) { out.set(p, at); at += p.length; }
    return out;
  }
  const sha256 = async (bytes) => new Uint8Array(await subtle.digest("SHA-256", bytes));

  // -- canonical event bytes (docs/audit.md): sorted keys by code point, no whitespace, UTF-8 --

  function byCodePoint(a, b) {
    const x = Array.from(a, (c) => c.codePointAt(0));
    const y = Array.from(b, (c) => c.codePointAt(0));
    for (let i = 0; i < Math.min(x.length, y.length); i += 1) if (x[i] !== y[i]) return x[i] - y[i];
    return x.length - y.length;
  }
  function canonical(value) {
    if (value === null || typeof value === "boolean") return String(value);
    if (typeof value === "string") return JSON.stringify(value); // escapes as Python's json does
    if (typeof value === "number") {
      if (!Number.isSafeInteger(value)) throw new CouldNot(`an event holds ${value}, beyond the integers JavaScript holds exactly`);
      return String(value);
    }
    if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`;
    const keys = Object.keys(value).sort(byCodePoint);
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonical(value[k])}`).join(",")}}`;
  }

  // -- RFC 9162 ---------------------------------------------------------------------------------

  const leafHash = (bytes) => sha256(concat(new Uint8Array([0]), bytes));
  const nodeHash = (l, r) => sha256(concat(new Uint8Array([1]), l, r));

  async function included(leaf, index, size, proof, root) {
    // RFC 9162 §2.1.3.2, as scripts/verify.py's verify_inclusion.
    if (!(index >= 0 && index < size)) return false;
    let fn = index, sn = size - 1, r = leaf;
    for (const p of proof) {
      if (sn === 0) return false;
      if (fn % 2 === 1 || fn === sn) {
        r = await nodeHash(p, r);
        while (fn % 2 === 0 && fn !== 0) { fn = Math.floor(fn / 2); sn = Math.floor(sn / 2); }
      } else {
        r = await nodeHash(r, p);
      }
      fn = Math.floor(fn / 2); sn = Math.floor(sn / 2);
    }
    return sn === 0 && equal(r, root);
  }

  // -- C2SP signed notes, checkpoints, cosignatures -----------------------------------------------

  async function verifierKey(text, kind) {
    const whole = String(text).trim(); // name+id+key: the base64 key may hold "+" too
    const first = whole.indexOf("+"), second = whole.indexOf("+", first + 1);
    if (first < 1 || second < 0) throw new Failed(`verifier key “${text}” is not name+id+key`);
    const [name, id, material] = [whole.slice(0, first), whole.slice(first + 1, second), whole.slice(second + 1)];
    const raw = b64(material, "a verifier key");
    if (raw.length !== 33 || raw[0] !== kind) throw new Failed(`verifier key of ${name} is not an Ed25519 key of type ${kind}`);
    const digest = await sha256(concat(utf8.encode(`${name}\n`), raw));
    if (hex(digest.slice(0, 4)) !== id) throw new Failed(`verifier key id ${id} does not match ${name}'s key`);
    let key;
    try {
      key = await subtle.importKey("raw", raw.slice(1), { name: "Ed25519" }, false, ["verify"]);
    } catch (error) {
      throw new CouldNot("this browser's WebCrypto has no Ed25519");
    }
    return { name, id: digest.slice(0, 4), key, label: `${name}+${id}` };
  }

  function splitNote(note) {
    const split = note.lastIndexOf("\n\n");
    if (split < 0 || !note.endsWith("\n")) throw new Failed("the checkpoint is not a signed note");
    const text = note.slice(0, split + 1);
    const signatures = note.slice(split + 2, -1).split("\n").map((line) => {
      if (!line.startsWith("\u2014 ")) throw new Failed("a signature line does not start with an em dash");
      const [name, encoded] = line.slice(2).split(" ");
      return { name, sig: b64(encoded, `the signature of ${name}`) };
    });
    return { text, signatures };
  }
  const matches = (s, key) => s.name === key.name && equal(s.sig.slice(0, 4), key.id);
  const verify = (key, sig, data) => subtle.verify({ name: "Ed25519" }, key.key, sig, data);

  async function openCheckpoint(note, logKey) {
    const { text, signatures } = splitNote(note);
    const mine = signatures.filter((s) => matches(s, logKey));
    if (!mine.length) throw new Failed(`the checkpoint has no signature by the log key ${logKey.label}`);
    for (const s of mine) {
      if (s.sig.length !== 68 || !(await verify(logKey, s.sig.slice(4), utf8.encode(text)))) {
        throw new Failed(`the checkpoint's signature by ${logKey.label} does not verify`);
      }
    }
    const lines = text.slice(0, -1).split("\n");
    if (lines.length < 3 || !/^(0|[1-9][0-9]*)$/.test(lines[1])) throw new Failed("the checkpoint is not origin, size, root");
    if (lines[0] !== logKey.name) throw new Failed(`the checkpoint's origin is not ${logKey.name}`);
    const root = b64(lines[2], "the checkpoint's root");
    if (root.length !== 32) throw new Failed("the checkpoint's root is not a 32-byte hash");
    return { text, signatures, size: Number(lines[1]), root };
  }

  async function cosigners(checkpoint, witnesses) {
    // cosignature/v1: key id, 8-byte big-endian timestamp, Ed25519 over two header lines + text.
    const valid = [];
    for (const w of witnesses) {
      for (const s of checkpoint.signatures.filter((x) => matches(x, w))) {
        if (s.sig.length !== 76) throw new Failed(`the cosignature by ${w.label} is not a timestamped Ed25519 signature`);
        const time = new DataView(s.sig.buffer, s.sig.byteOffset + 4, 8).getBigUint64(0);
        const signed = utf8.encode(`cosignature/v1\ntime ${time}\n${checkpoint.text}`);
        if (!(await verify(w, s.sig.slice(12), signed))) throw new Failed(`the cosignature by ${w.label} does not verify`);
        if (!valid.includes(w.label)) valid.push(w.label);
      }
    }
    return valid;
  }

  // -- the ledger's answers ---------------------------------------------------------------------

  async function get(path, as = "json", retries = 0) {
    let response;
    try {
      response = await fetch(path, { cache: "no-store", credentials: "same-origin" });
    } catch (error) {
      throw new CouldNot(`the ledger did not answer ${path}`);
    }
    if (response.status === 422 && retries > 0) { // the views are a moment behind the checkpoint
      await new Promise((done) => setTimeout(done, 250));
      return get(path, as, retries - 1);
    }
    if (!response.ok) {
      let detail = "";
      try { detail = (await response.json()).detail || ""; } catch (error) { /* not JSON */ }
      throw new CouldNot(`${path} answered ${response.status}${detail ? `: ${detail}` : ""}`);
    }
    return as === "text" ? response.text() : response.json();
  }

  function percent(part, total) { // half up, as projections/catalog/percent.py and verify.py
    return total ? Math.floor((200 * part + total) / (2 * total)) : null;
  }
  function figures(choices) {
    const ship = choices.filter((c) => c === "ship").length;
    return { ship, skip: choices.length - ship, total: choices.length, ship_pct: percent(ship, choices.length) };
  }
  const pct = (v) => (v === null ? "—" : `${v}%`);
  const FIELDS = ["ship", "skip", "total", "ship_pct"];
  function sameFigures(what, mine, theirs) {
    for (const f of FIELDS) {
      if (!theirs || mine[f] !== theirs[f]) {
        throw new Failed(`${what}: the ledger publishes ${f} ${theirs ? theirs[f] : "nothing"}, the recount gives ${mine[f]}`);
      }
    }
  }

  // -- one leaf, checked from its bytes up ------------------------------------------------------

  async function checkLeaf(leaf, index, checkpoint, wanted) {
    const where = `leaf ${index}${leaf && leaf.position ? ` (log position ${leaf.position})` : ""}`;
    if (!leaf) throw new Failed(`${where}: the ledger did not send it`);
    const event = leaf.event;
    if (!event) throw new Failed(`${where}: the event is gone from the store`);
    if (!("state" in event)) throw new Failed(`${where}: the stored event no longer parses`);
    const mine = await leafHash(utf8.encode(canonical(event)));
    const recorded = b64(leaf.leaf_hash, `${where}'s hash`);
    if (!equal(mine, recorded)) {
      throw new Failed(`${where}: the stored event was changed after the log recorded it (its bytes hash to ${toB64(mine)}, the log recorded ${toB64(recorded)})`);
    }
    const proof = (leaf.proof || []).map((h) => b64(h, `${where}'s proof`));
    if (!(await included(mine, index, checkpoint.size, proof, checkpoint.root))) {
      throw new Failed(`${where}: its inclusion proof does not lead to the signed root of size ${checkpoint.size}`);
    }
    const kind = String(event.topic).split(":").pop();
    const state = event.state;
    if (!wanted.kinds.includes(kind) || state.tool !== wanted.slug) {
      throw new Failed(`${where}: the score proof counts it as ${wanted.what}, but it is ${kind} on ${state.tool}`);
    }
    if (wanted.seat !== undefined && (state.seat !== wanted.seat || state.decision !== wanted.choice)) {
      throw new Failed(`${where}: the score proof counts seat ${wanted.seat} as ${wanted.choice}; the event says seat ${state.seat}, ${state.decision}`);
    }
    if (wanted.choice !== undefined && wanted.seat === undefined && state.choice !== wanted.choice) {
      throw new Failed(`${where}: the score proof counts ${wanted.choice}; the event says ${state.choice}`);
    }
    return kind === "Ballot.Voided" || kind === "Ballot.Restored" ? state.voter : state.actor;
  }

  // -- the whole check --------------------------------------------------------------------------

  async function check(slug, pinned, say) {
    say("Fetching the log's keys and its checkpoint…");
    const served = await get("/v1/audit/public-key");
    let logKey;
    try {
      logKey = await verifierKey(pinned || served.verifier_key, ED25519);
    } catch (error) { // a key the reader typed is their mistake, not the ledger's
      if (pinned && error instanceof Failed) throw new CouldNot(`the key you gave: ${error.message}`);
      throw error;
    }
    const configured = await get("/v1/audit/witnesses");
    const witnesses = [];
    for (const w of configured.witnesses || []) witnesses.push(await verifierKey(w.verifier_key, COSIGNATURE));
    const quorum = configured.quorum || 0;
    const checkpoint = await openCheckpoint(await get("/v1/audit/checkpoint", "text"), logKey);
    const whose = pinned ? "the log key you gave" : "the log key this site serves";
    const done = [
      `the checkpoint of size ${checkpoint.size} is signed by ${whose}, ${logKey.label} (Ed25519)`,
    ];
    if (witnesses.length) {
      const valid = await cosigners(checkpoint, witnesses);
      if (valid.length < quorum) {
        throw new Failed(`quorum not met: ${valid.length} valid cosignature(s) of the ${quorum} required`);
      }
      done.push(`${valid.length} of ${witnesses.length} witnesses cosigned it (quorum ${quorum}): ${valid.join(", ")}`);
    }

    say(`Fetching the score proof at size ${checkpoint.size}…`);
    const base = `/v1/tools/${encodeURIComponent(slug)}`;
    const proof = await get(`${base}/score-proof?size=${checkpoint.size}`, "json", 20);
    const pinnedTo = proof.checkpoint || {};
    if (proof.size !== checkpoint.size || typeof pinnedTo.note !== "string" || splitNote(pinnedTo.note).text !== checkpoint.text) {
      throw new Failed("the score proof is not pinned to the checkpoint just verified");
    }
    const wanted = new Map();
    const name = (index, claim) => { // each leaf once: a leaf named twice would be counted twice
      if (wanted.has(index)) throw new Failed(`leaf ${index}: the score proof names it twice`);
      wanted.set(index, claim);
    };
    const seats = new Set(proof.panel.verdicts.map((v) => v.seat));
    if (seats.size !== proof.panel.verdicts.length) throw new Failed("the score proof counts a seat twice");
    for (const v of proof.panel.verdicts) {
      name(v.leaf_index, { slug, what: "a current verdict", kinds: ["Panel.VerdictPublished", "Panel.VerdictAmended"], seat: v.seat, choice: v.decision });
    }
    for (const b of proof.community.ballots) {
      name(b.leaf_index, { slug, what: "a current ballot", kinds: ["Ballot.Cast", "Ballot.Changed", "Ballot.Recast", "Ballot.Restored"], choice: b.choice, ballot: true });
    }
    for (const v of proof.community.voids || []) {
      name(v.leaf_index, { slug, what: "a void in force", kinds: ["Ballot.Voided"], void: true });
    }
    const indexes = [...wanted.keys()].sort((a, b) => a - b);

    const voters = new Set(), voided = new Set();
    for (let at = 0; at < indexes.length; at += PAGE) {
      const page = indexes.slice(at, at + PAGE);
      say(`Checking leaves ${at + 1}–${at + page.length} of ${indexes.length}…`);
      const query = page.map((i) => `index=${i}`).join("&");
      const answer = await get(`/v1/audit/leaves?size=${checkpoint.size}&${query}`);
      const byIndex = new Map((answer.leaves || []).map((l) => [l.leaf_index, l]));
      for (const i of page) {
        const w = wanted.get(i);
        const voter = await checkLeaf(byIndex.get(i), i, checkpoint, w);
        if (w.seat !== undefined) continue;
        const seen = w.void ? voided : voters;
        if (seen.has(voter)) throw new Failed(`leaf ${i}: ${voter} is counted twice`);
        seen.add(voter);
      }
    }
    for (const voter of voters) {
      if (voided.has(voter)) throw new Failed(`${voter}'s ballot is counted although a moderator voided it`);
    }
    done.push(`${indexes.length} leaves recomputed from the events' bytes (SHA-256) and proven in that checkpoint's tree`);

    const panel = figures(proof.panel.verdicts.map((v) => v.decision));
    const community = figures(proof.community.ballots.map((b) => b.choice));
    const asOf = await get(`${base}?as_of=${checkpoint.size}`);
    for (const [what, doc] of [["the score proof", proof], [`the tool as of size ${checkpoint.size}`, asOf]]) {
      sameFigures(`${what}, panel`, panel, doc.panel);
      sameFigures(`${what}, community`, community, doc.community);
      if ((doc.community.voided || 0) !== voided.size) {
        throw new Failed(`${what}: the ledger publishes ${doc.community.voided || 0} voided ballots, the proof's voids are ${voided.size}`);
      }
    }
    const shown = document.querySelector("[data-figure=panel]");
    const shownCommunity = document.querySelector("[data-figure=community]");
    if (Number(button.dataset.size) === checkpoint.size && shown && shownCommunity) {
      for (const [what, element, mine] of [["panel", shown, panel], ["community", shownCommunity, community]]) {
        if (element.textContent.trim() !== pct(mine.ship_pct)) {
          throw new Failed(`this page shows a ${what} figure of ${element.textContent.trim()}, the recount gives ${pct(mine.ship_pct)}`);
        }
      }
      done.push("the figures on this page are the recounted ones");
    } else {
      done.push(`this page was rendered at log size ${button.dataset.size}; the newest checkpoint has size ${checkpoint.size}, so reload to compare the page with it`);
    }
    done.push(
      `recounted: panel ${pct(panel.ship_pct)} (${panel.ship} of ${panel.total} verdicts say ship), ` +
      `community ${pct(community.ship_pct)} (${community.ship} of ${community.total} ballots; ${voided.size} voided by moderators, left out), ` +
      `as the ledger publishes them at log size ${checkpoint.size}`,
    );
    return done;
  }

  function show(ok, heading, items, note) {
    result.replaceChildren();
    const p = document.createElement("p");
    p.className = ok ? "check-ok" : "check-failed";
    const mark = document.createElement("span");
    mark.setAttribute("aria-hidden", "true");
    mark.textContent = ok ? "✓ " : "✗ ";
    const strong = document.createElement("strong");
    strong.textContent = heading;
    p.append(mark, strong);
    result.append(p);
    if (items.length) {
      const ul = document.createElement("ul");
      for (const item of items) {
        const li = document.createElement("li");
        li.textContent = item;
        ul.append(li);
      }
      result.append(ul);
    }
    if (note) {
      const small = document.createElement("p");
      small.className = "detail";
      small.textContent = note;
      result.append(small);
    }
  }

  // The pure parts, for tests/api/site/test_check_js.py's property tests against Python.
  window.verdictCheck = Object.freeze({ canonical, leafHash, included });

  const button = document.querySelector("button[data-check-score]");
  const result = document.getElementById("check-result");
  if (!button || !result || !window.fetch || !subtle) return;

  let running = false;
  for (const element of document.querySelectorAll(".check-js")) element.hidden = false;
  button.hidden = false;
  button.addEventListener("click", async () => {
    if (running) return;
    running = true;
    result.setAttribute("aria-busy", "true");
    button.setAttribute("aria-disabled", "true");
    const say = (text) => { result.replaceChildren(Object.assign(document.createElement("p"), { textContent: text })); };
    try {
      const input = document.getElementById("check-key");
      const pinned = input ? input.value.trim() : "";
      const done = await check(button.dataset.checkScore, pinned, say);
      show(true, "Verified in your browser", done,
        "This checks that every verdict and ballot the figures count is in the signed log, unchanged, and adds up. " +
        (pinned ? "" : "It trusts the key this site serves. ") +
        "It cannot see a ballot left out of the proof: scripts/verify.py replays the whole log for that.");
    } catch (error) {
      if (error instanceof Failed) show(false, `Check failed: ${error.message}`, [], "The first thing that did not check is named; the rest was not checked.");
      else show(false, `Could not check: ${error instanceof CouldNot ? error.message : String(error)}`, [], "Nothing is proven either way; try again, or run scripts/verify.py.");
    } finally {
      running = false;
      result.removeAttribute("aria-busy");
      button.removeAttribute("aria-disabled");
    }
  });
})();
