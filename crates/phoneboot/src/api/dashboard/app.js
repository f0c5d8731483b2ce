// phoneboot dashboard: plain JS, no framework, no build step, nothing
// loaded from outside phoneboot. Reads the /api endpoints (docs/api.md) and
// follows /api/events/stream. Every value from the server is put in the page
// as text (phones choose file names: never innerHTML).
"use strict";

const MAX_EVENTS = 2000;   // kept in memory for the events viewer
const MAX_ROWS = 1000;     // rendered at once
const FAST_MS = 1000;      // phones, transfers, the open phone page
const SLOW_MS = 5000;      // status, leases, firmware, desired state

const state = {
  view: "phones",
  phoneMac: null,
  phones: [],
  phonesAvailable: null,   // false once /api/phones answers 404
  sort: { key: "mac", dir: 1 },
  events: [],              // oldest first
  seen: new Set(),         // "seq:time" of events kept, against duplicates on reconnect
  paused: false,
  pending: [],             // events that arrived while paused
  types: new Set(),
  stages: new Set(),
  timeline: [],
  phone: null,             // the open phone page's /api/phones/{mac}
};

// Script errors and CSP refusals, for the browser test (and the console).
const errors = [];
window.addEventListener("error", (e) => errors.push(`error: ${e.message}`));
window.addEventListener("unhandledrejection", (e) => errors.push(`unhandled: ${e.reason}`));
document.addEventListener("securitypolicyviolation", (e) => errors.push(`csp: ${e.violatedDirective} ${e.blockedURI}`));

// ---- small helpers -------------------------------------------------------

const $ = (sel) => document.querySelector(sel);

/** An element with attributes (`class`, `data-*`, properties) and children. */
function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") e.className = v;
    else if (k in e && !k.startsWith("data-")) e[k] = v;
    else e.setAttribute(k, v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined) continue;
    e.append(c instanceof Node ? c : String(c));
  }
  return e;
}

function pad(n, w = 2) { return String(n).padStart(w, "0"); }

function clock(ms) {
  if (!ms) return "";
  const d = new Date(ms);
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

function ago(ms) {
  if (!ms) return "";
  const s = Math.round((Date.now() - ms) / 1000);
  if (s < 0) return `in ${duration(-s * 1000)}`;
  return `${duration(s * 1000)} ago`;
}

function duration(ms) {
  if (ms === null || ms === undefined) return "";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)} s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${pad(Math.floor(s % 60))}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ${pad(Math.floor((s % 3600) / 60))}m`;
  return `${Math.floor(s / 86400)}d ${Math.floor((s % 86400) / 3600)}h`;
}

function bytes(n) {
  if (n === null || n === undefined) return "";
  if (n < 1024) return `${n} B`;
  const units = ["KiB", "MiB", "GiB"];
  let v = n / 1024, i = 0;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

/** `00:1e:4a:00:00:01` from any notation the API accepts; otherwise as given. */
function normMac(m) {
  const hex = String(m || "").toLowerCase().replace(/[^0-9a-f]/g, "");
  return hex.length === 12 ? hex.match(/../g).join(":") : String(m || "").toLowerCase();
}

/** The hex digits of a MAC (or part of one), for matching any notation. */
function macHex(m) {
  return String(m || "").toLowerCase().replace(/[^0-9a-f]/g, "");
}

function ipKey(ip) {
  if (!ip) return "";
  return ip.split(".").map((o) => pad(o, 3)).join(".");
}

/** GET JSON: `{status, body}`; a 401 shows the log-in banner. */
async function getJson(path) {
  let r;
  try {
    r = await fetch(path, { headers: { Accept: "application/json" }, cache: "no-store" });
  } catch (e) {
    banner("phoneboot does not answer (stopped or restarting?); retrying…");
    return { status: 0, body: null };
  }
  if (r.status === 401) {
    banner("This server needs its API token: open /?token=YOUR-TOKEN once in this browser.");
  } else {
    banner(null);
  }
  let body = null;
  try { body = await r.json(); } catch (e) { body = null; }
  return { status: r.status, body };
}

function banner(text) {
  const b = $("#banner");
  b.hidden = !text;
  b.textContent = text || "";
}

function note(sel, text) {
  const n = $(sel);
  n.hidden = !text;
  n.textContent = text || "";
}

function fillTable(sel, rows) {
  const body = $(`${sel} tbody`);
  body.replaceChildren(...rows);
}

function progressBar(done, total, attrs) {
  if (!total) return el("span", { class: "muted" }, done ? bytes(done) : "");
  return el("progress", { ...attrs, max: total, value: Math.min(done, total) });
}

// ---- routing --------------------------------------------------------------

function route() {
  const h = location.hash.replace(/^#\/?/, "");
  const [view, ...rest] = h.split("/");
  if (view === "phone" && rest.length) {
    state.view = "phone";
    state.phoneMac = normMac(decodeURIComponent(rest.join("/")));
  } else {
    state.view = ["phones", "events", "leases", "transfers", "firmware", "desired"].includes(view) ? view : "phones";
    state.phoneMac = null;
  }
  for (const s of document.querySelectorAll("[data-view]")) s.hidden = s.dataset.view !== state.view;
  for (const a of document.querySelectorAll("[data-tab]")) {
    a.classList.toggle("active", a.dataset.tab === state.view || (state.view === "phone" && a.dataset.tab === "phones"));
  }
  if (state.view === "phone") {
    state.timeline = [];
    $("#phone-timeline").replaceChildren();
    $("#phone-facts").replaceChildren();
    $("#phone-title").textContent = state.phoneMac;
    state.phone = null;
    loadForm();
  }
  refreshView();
}

function refreshView() {
  switch (state.view) {
    case "phones": return refreshPhones();
    case "phone": return refreshPhone();
    case "leases": return refreshLeases();
    case "transfers": return refreshTransfers();
    case "firmware": return refreshFirmware();
    case "desired": return refreshDesired();
    case "events": return renderEvents();
  }
}

// ---- status line ----------------------------------------------------------

async function refreshStatus() {
  const { status, body } = await getJson("/api/status");
  if (status !== 200 || !body) return;
  const c = body.counts || {};
  const line = [
    `phoneboot ${body.version}`,
    `up ${duration((body.uptime_seconds || 0) * 1000)}`,
    `${c.leases_active ?? 0} active leases`,
    `${c.transfers_active ?? 0} transfers running, ${c.transfers_done ?? 0} done`,
    `${c.firmware_loads_complete ?? 0} complete loads`,
  ].join(" · ");
  $("#summary").replaceChildren(
    el("span", {}, line),
    ...(body.problems || []).map((p) => el("span", { class: "problem" }, `⚠ ${p}`)),
  );
}

// ---- phones ---------------------------------------------------------------

function loadText(p) {
  const cur = p.current_load || "?";
  const target = p.target_load || "?";
  const next = p.next_load && p.next_load !== p.target_load ? ` (next ${p.next_load})` : "";
  return `${cur} → ${target}${next}`;
}

function progressFraction(p) {
  const g = p.progress;
  if (g && g.bytes_total) return g.bytes_done / g.bytes_total;
  if (p.hops_total) return (p.hops_done || 0) / p.hops_total;
  return -1;
}

const sortKeys = {
  mac: (p) => p.mac,
  model: (p) => p.model || "",
  ip: (p) => ipKey(p.ip),
  load: (p) => `${p.current_load || ""} ${p.target_load || ""}`,
  stage: (p) => p.stage || "",
  progress: progressFraction,
  diagnosis: (p) => (p.diagnosis ? p.diagnosis.code : ""),
  last_seen: (p) => p.last_seen_unix_ms || 0,
};

function phoneMatches(p, text, stage) {
  if (stage && p.stage !== stage) return false;
  if (!text) return true;
  const hay = [p.mac, p.model, p.ip, p.protocol, p.stage, p.stage_text, p.current_load, p.next_load,
    p.target_load, p.diagnosis && p.diagnosis.message, p.diagnosis && p.diagnosis.code]
    .filter(Boolean).join(" ").toLowerCase();
  const mac = macHex(p.mac);
  const macLike = (w) => /^[0-9a-f:.-]+$/.test(w) && macHex(w).length >= 4;
  return text.toLowerCase().split(/\s+/).every((w) => hay.includes(w) || (macLike(w) && mac.includes(macHex(w))));
}

function phoneRow(p) {
  const g = p.progress;
  const hops = p.hops_total ? `hop ${p.hops_done || 0} of ${p.hops_total}` : "";
  const files = g ? `files ${g.files_done}/${g.files_total} · ${bytes(g.bytes_done)} of ${bytes(g.bytes_total)}` : "";
  const d = p.diagnosis;
  return el("tr", { "data-mac": p.mac, onclick: () => { location.hash = `#/phone/${p.mac}`; } },
    el("td", { class: "mono", "data-col": "mac" }, p.mac),
    el("td", { "data-col": "model" }, p.model || "?", p.protocol ? ` ${p.protocol}` : ""),
    el("td", { class: "mono", "data-col": "ip" }, p.ip || ""),
    el("td", { class: "mono", "data-col": "load" }, loadText(p)),
    el("td", { "data-col": "stage" },
      el("span", { class: `stage stage-${p.stage}` }, p.stage || "?"),
      p.stage_text ? el("div", { class: "muted" }, p.stage_text) : null),
    el("td", { "data-col": "progress" },
      g ? progressBar(g.bytes_done, g.bytes_total, { "data-mac": p.mac }) : null,
      el("div", { class: "muted" }, [files, hops].filter(Boolean).join(" · "))),
    el("td", { "data-col": "diagnosis" },
      d ? el("span", { class: "diag" }, d.message, d.fix ? el("span", { class: "fix" }, `Fix: ${d.fix}`) : null) : ""),
    el("td", { "data-col": "last_seen", title: p.last_seen_unix_ms ? new Date(p.last_seen_unix_ms).toString() : "" },
      ago(p.last_seen_unix_ms)),
  );
}

/** Shows `list` (the `/api/phones` shape) in the phones table. */
function renderPhones(list) {
  state.phones = Array.isArray(list) ? list : [];
  for (const p of state.phones) if (p.stage) state.stages.add(p.stage);
  const sel = $("#phone-stage");
  const have = new Set([...sel.options].map((o) => o.value));
  for (const s of [...state.stages].sort()) if (!have.has(s)) sel.append(el("option", { value: s }, s));

  const text = $("#phone-filter").value.trim();
  const stage = sel.value;
  const key = sortKeys[state.sort.key] || sortKeys.mac;
  const rows = state.phones
    .filter((p) => phoneMatches(p, text, stage))
    .sort((a, b) => {
      const x = key(a), y = key(b);
      return (x < y ? -1 : x > y ? 1 : a.mac < b.mac ? -1 : 1) * state.sort.dir;
    });
  fillTable("#phones", rows.map(phoneRow));
  for (const th of document.querySelectorAll("#phones th[data-sort]")) {
    th.classList.toggle("asc", th.dataset.sort === state.sort.key && state.sort.dir > 0);
    th.classList.toggle("desc", th.dataset.sort === state.sort.key && state.sort.dir < 0);
  }
  $("#phone-count").textContent = `${rows.length} of ${state.phones.length} phones`;
}

async function refreshPhones() {
  const { status, body } = await getJson("/api/phones");
  if (status === 404) {
    state.phonesAvailable = false;
    note("#phones-note", "This server has no provisioning engine yet (/api/phones is missing): " +
      "phones appear here once it runs. Their traffic is in Events and Transfers.");
    renderPhones([]);
  } else if (status === 200) {
    state.phonesAvailable = true;
    note("#phones-note", body.length ? null : "No phone has been seen yet.");
    renderPhones(body);
  }
}

// ---- one phone ------------------------------------------------------------

function fact(name, value) {
  return value === null || value === undefined || value === "" ? [] : [el("dt", {}, name), el("dd", {}, value)];
}

async function refreshPhone() {
  const mac = state.phoneMac;
  const { status, body } = await getJson(`/api/phones/${encodeURIComponent(mac)}`);
  if (mac !== state.phoneMac) return;
  let events;
  if (status === 200 && body) {
    note("#phone-note", null);
    const p = body, g = p.progress, d = p.diagnosis;
    $("#phone-title").textContent = `${p.mac} ${p.model ? `(${p.model} ${p.protocol || ""})` : ""}`;
    $("#phone-facts").replaceChildren(
      ...fact("IP", p.ip), ...fact("Stage", p.stage_text || p.stage), ...fact("Current load", p.current_load),
      ...fact("Next load", p.next_load), ...fact("Target load", p.target_load),
      ...fact("Config from", p.config_source && p.config_source.kind !== "none"
        ? el("span", { id: "phone-config-source" }, p.config_source.kind === "operator"
          ? `${p.config_source.text} in the TFTP root (served as it is${p.config_source.load ? `, names ${p.config_source.load}` : ", names no load for it"}); phoneboot watches`
          : "generated by phoneboot from the desired state")
        : null),
      ...fact("Hops", p.hops_total ? `${p.hops_done} of ${p.hops_total}` : null),
      ...fact("Download", g ? el("span", {}, progressBar(g.bytes_done, g.bytes_total, { id: "phone-progress" }),
        ` files ${g.files_done}/${g.files_total}, ${bytes(g.bytes_done)} of ${bytes(g.bytes_total)}`) : null),
      ...fact("Diagnosis", d ? el("span", { class: "diag" }, d.message, d.fix ? el("span", { class: "fix" }, `Fix: ${d.fix}`) : null) : null),
      ...fact("Last seen", p.last_seen_unix_ms ? `${clock(p.last_seen_unix_ms)} (${ago(p.last_seen_unix_ms)})` : null),
      ...fact("SCCP session", p.sccp ? `${p.sccp.device_name} from ${p.sccp.peer}, protocol ${p.sccp.protocol_version ?? "?"}` +
        `${p.sccp.reported_load ? `, reports ${p.sccp.reported_load}` : ""}, since ${clock(p.sccp.since_unix_ms)}` : null),
      ...fact("Reboot sent", p.reboot_pending ? `${p.reboot_pending.cause} (${ago(p.reboot_pending.since_unix_ms)}), waiting for it to come back` : null),
      ...fact("Last NOTIFY", p.last_notify ? `${p.last_notify.event}: ${p.last_notify.answer}${p.last_notify.status ? ` ${p.last_notify.status}` : ""}` +
        ` after ${p.last_notify.tries} tries, ${ago(p.last_notify.at_unix_ms)} (${p.last_notify.cause})` : null),
    );
    const learned = state.phone && state.phone.model;
    state.phone = p;
    // The loads offered follow the model the phone reports, until one is typed.
    if (learned !== p.model && !$("#f-model").value) fillLoads();
    $("#f-model").placeholder = p.model ? `${p.model} (as the phone says)` : "as the phone says";
    const retry = $("#phone-retry");
    retry.disabled = !d || d.code === "missing_load";
    retry.title = !d
      ? "nothing stops this phone's walk"
      : d.code === "missing_load"
        ? `a retry cannot help: ${d.fix}`
        : `clears "${d.message}" and tries the current hop again`;
    const reboot = $("#phone-reboot");
    reboot.disabled = !p.reboot_channel;
    reboot.title = p.reboot_channel
      ? `sends ${p.reboot_channel_text}`
      : "phoneboot cannot reach this phone: it is not registered over SCCP and not known to run a SIP load; power-cycle it";
    reboot.textContent = p.reboot_channel ? `Reboot (${p.reboot_channel_text})` : "Reboot (not reachable)";
    events = p.events;
  } else if (status === 404 || status === 400) {
    // The API's own 404 ("no such endpoint") means no engine, not no phone.
    const noEngine = state.phonesAvailable === false || /no such endpoint/.test((body && body.error) || "");
    note("#phone-note", noEngine
      ? "No provisioning engine on this server: showing this MAC's events only."
      : "phoneboot knows no phone with this MAC (yet): showing its events.");
    for (const b of ["#phone-reboot", "#phone-retry"]) {
      $(b).disabled = true;
      $(b).title = "phoneboot has not seen this phone";
    }
  }
  if (!Array.isArray(events)) {
    const r = await getJson(`/api/events?mac=${encodeURIComponent(mac)}&limit=500`);
    if (mac !== state.phoneMac) return;
    events = r.status === 200 && r.body ? r.body.events : [];
  }
  state.timeline = events;
  $("#phone-timeline").replaceChildren(...events.slice(-MAX_ROWS).reverse().map(eventItem));
}

// ---- events ---------------------------------------------------------------

const describe = {
  dhcp: (e) => [
    e.kind, e.ip ? `${e.ip}` : "", e.mac ? `for ${e.mac}` : "", e.model ? `(${e.model})` : "",
    e.request ? `on ${e.request}` : "", e.relay ? `via relay ${e.relay}` : "",
    e.reason ? `— ${e.reason}` : "", e.reply_ms !== null && e.reply_ms !== undefined ? `[${duration(e.reply_ms)}]` : "",
  ],
  tftp_transfer: (e) => [
    e.file, "→", e.client, e.result, `${bytes(e.bytes)} of ${bytes(e.size)}`, `in ${duration(e.duration_ms)}`,
    e.blksize && e.blksize !== 512 ? `blksize ${e.blksize}` : "", e.windowsize > 1 ? `window ${e.windowsize}` : "",
    e.retransmitted ? `${e.retransmitted} resent` : "", e.error ? `— ${e.error}` : "",
  ],
  http_transfer: (e) => [
    e.file, "→", e.client, `${e.status} ${e.result}`, `${bytes(e.bytes)} of ${bytes(e.size)}`,
    `in ${duration(e.duration_ms)}`, e.error ? `— ${e.error}` : "",
  ],
  transfer_started: (e) => [
    `${String(e.protocol || "").toUpperCase()} ${e.file}`, "→", e.client, bytes(e.size), e.source ? `from ${e.source}` : "",
  ],
  tftp_refused: (e) => [e.client, `error ${e.code}:`, e.reason],
  syslog: (e) => [
    e.severity, e.hostname || (e.source || "").replace(/:\d+$/, ""), e.app ? `${e.app}:` : "", e.message,
    e.truncated ? "(truncated)" : "",
  ],
  phone: (e) => [
    e.kind, e.stage ? `→ ${e.stage}` : "", e.message || "", e.fix ? `— fix: ${e.fix}` : "",
  ],
  lagged: (e) => [`the dashboard missed ${e.missed} events (too many at once)`],
  sccp_register: (e) => [
    e.device_name, "from", e.peer, e.accepted ? "registered" : "refused", e.model ? `(${e.model})` : "",
    e.protocol_version ? `protocol ${e.protocol_version}` : "", e.load ? `runs ${e.load}` : "", e.reason ? `— ${e.reason}` : "",
  ],
  sccp_session: (e) => [e.kind, e.load ? `Load=${e.load}` : "", e.message],
  sccp_reset: (e) => [`Reset (${e.reset_type})`, e.result, e.cause ? `— ${e.cause}` : ""],
  sip_notify: (e) => [
    e.event, "to", `sip:${e.user}@${e.phone}`, e.answer, e.status ? `${e.status}` : "", `after ${e.tries} tries`, e.cause ? `— ${e.cause}` : "",
  ],
};

const SKIP = new Set(["type", "seq", "time_unix_ms", "mac"]);

function eventText(e) {
  const f = describe[e.type];
  if (f) return f(e).filter((s) => s !== "" && s !== null && s !== undefined).join(" ");
  // Unknown types: their fields, compactly.
  return Object.entries(e)
    .filter(([k, v]) => !SKIP.has(k) && v !== null && v !== undefined && v !== "")
    .map(([k, v]) => `${k}=${typeof v === "object" ? JSON.stringify(v) : v}`)
    .join(" ");
}

function severity(e) {
  if (e.type === "tftp_refused" || e.type === "lagged") return "warn";
  if ((e.type === "tftp_transfer" || e.type === "http_transfer") && !["ok", "final_ack_lost"].includes(e.result)) {
    return e.result === "not_found" ? "warn" : "bad";
  }
  if (e.type === "dhcp" && ["nak", "conflict", "foreign_server", "declined"].includes(e.kind)) return "bad";
  if (e.type === "syslog" && ["emerg", "alert", "crit", "err"].includes(e.severity)) return "bad";
  if (e.type === "phone" && (e.kind === "diagnosis" || ["stalled", "failed"].includes(e.stage))) return "bad";
  if (e.type === "sccp_register" && !e.accepted) return "warn";
  if ((e.type === "sccp_reset" && e.result !== "sent") || (e.type === "sip_notify" && e.answer !== "ok")) return "warn";
  return "";
}

async function rebootPhone() {
  const mac = state.phoneMac;
  const button = $("#phone-reboot");
  button.disabled = true;
  let text;
  try {
    const r = await fetch(`/api/phones/${encodeURIComponent(mac)}/reboot`, { method: "POST", headers: { Accept: "application/json" } });
    const body = await r.json().catch(() => ({}));
    text = r.status === 202 ? `${body.channel_text} sent` : `not sent: ${body.error || r.status}`;
  } catch (e) {
    text = "phoneboot does not answer";
  }
  $("#phone-reboot-note").textContent = text;
  refreshPhone();
}

async function retryHop() {
  const mac = state.phoneMac;
  const button = $("#phone-retry");
  button.disabled = true;
  let text;
  try {
    const r = await fetch(`/api/phones/${encodeURIComponent(mac)}/retry`, { method: "POST", headers: { Accept: "application/json" } });
    const body = await r.json().catch(() => ({}));
    text = r.ok ? `cleared: ${body.cleared.message}` : `not retried: ${body.error || r.status}`;
  } catch (e) {
    text = "phoneboot does not answer";
  }
  $("#phone-retry-note").textContent = text;
  refreshPhone();
  refreshStatus();
}

// ---- the phone's desired state (the form) ------------------------------------
//
// Edits the phone's [[phone]] entry through PUT /api/desired/phones/{mac}.
// Passwords never come back from the server: a line left without one keeps
// its own. A 422 names the key (`lines[0].password`); the message goes
// beside the input whose data-key is that key, or the nearest enclosing one.

const desiredForm = { entry: null, loads: [], available: true };

function rowCell(field, value, attrs) {
  return el("td", {},
    el("input", { "data-field": field, value: value ?? "", autocomplete: "off", ...attrs }),
    el("span", { class: "field-error" }));
}

function removeButton(tr) {
  return el("td", {}, el("button", { type: "button", class: "remove", title: "remove", onclick: () => { tr.remove(); renumber(); } }, "✕"));
}

function lineRow(l) {
  const tr = el("tr", {});
  tr.append(
    rowCell("extension", l.extension, { placeholder: "201" }),
    rowCell("display", l.display, { placeholder: "the extension" }),
    rowCell("auth", l.auth, { placeholder: "the extension" }),
    rowCell("password", "", {
      type: "password", autocomplete: "new-password",
      placeholder: l.password_set ? "unchanged" : "required",
    }),
    rowCell("label", l.label, { placeholder: "the extension" }),
    removeButton(tr));
  return tr;
}

function dialRow(d) {
  const tr = el("tr", {});
  tr.append(rowCell("number", d.number, { placeholder: "200" }), rowCell("label", d.label, { placeholder: "Sales" }), removeButton(tr));
  return tr;
}

/** Gives every row input the key the server names it by (`lines[1].password`). */
function renumber() {
  for (const [list, name] of [["#f-lines", "lines"], ["#f-dials", "speed_dials"]]) {
    [...$(`${list} tbody`).children].forEach((tr, i) => {
      for (const input of tr.querySelectorAll("input[data-field]")) {
        const key = `${name}[${i}].${input.dataset.field}`;
        input.dataset.key = key;
        input.setAttribute("aria-label", key);
        input.nextElementSibling.dataset.errorFor = key;
      }
    });
  }
}

function clearErrors() {
  for (const e of document.querySelectorAll("#desired-form .field-error")) e.textContent = "";
  for (const e of document.querySelectorAll("#desired-form .invalid")) e.classList.remove("invalid");
}

/** Puts `text` beside the field `key` names, or the nearest enclosing one. */
function showError(key, text) {
  let k = key || "";
  let target = null;
  for (;;) {
    target = document.querySelector(`#desired-form [data-error-for="${CSS.escape(k)}"]`);
    if (target || !k) break;
    const shorter = k.replace(/(\.[A-Za-z_]+|\[\d+\])$/, "");
    k = shorter === k ? "" : shorter;
  }
  (target || $("#desired-error")).textContent = text;
  const input = key && document.querySelector(`#desired-form [data-key="${CSS.escape(key)}"]`);
  if (input) {
    input.classList.add("invalid");
    input.focus();
  }
}

/** The loads the library can serve this phone: complete, for its model and protocol. */
function fillLoads() {
  const sel = $("#f-load");
  const current = sel.value || (desiredForm.entry && desiredForm.entry.load) || "";
  const model = ($("#f-model").value.trim() || (state.phone && state.phone.model) || "").toLowerCase();
  const protocol = $("#f-protocol").value.toLowerCase();
  const fits = desiredForm.loads.filter((l) => l.complete
    && (!model || l.models.some((m) => m.toLowerCase() === model))
    && (!protocol || (l.protocol || "").toLowerCase() === protocol));
  const options = [
    el("option", { value: "", title: "what its group, model or the defaults say" }, "inherit"),
    el("option", { value: "newest" }, "newest in the library"),
    ...fits.map((l) => el("option", { value: l.name, title: `${l.protocol || "?"} ${l.version}` }, l.name)),
  ];
  if (current && !options.some((o) => o.value.toLowerCase() === current.toLowerCase())) {
    options.push(el("option", { value: current }, `${current} (not in the library for this model)`));
  }
  sel.replaceChildren(...options);
  sel.value = options.find((o) => o.value.toLowerCase() === current.toLowerCase())?.value ?? "";
}

/** Fills the form from the phone's entry (none: an empty form). */
async function loadForm() {
  const mac = state.phoneMac;
  const [entry, firmware, desired] = await Promise.all([
    getJson(`/api/desired/phones/${encodeURIComponent(mac)}`),
    getJson("/api/firmware"),
    getJson("/api/desired"),
  ]);
  if (mac !== state.phoneMac) return;
  clearErrors();
  const noEngine = entry.status === 404 && /no such endpoint/.test((entry.body && entry.body.error) || "");
  desiredForm.available = !noEngine;
  $("#desired-form").hidden = noEngine;
  const e = entry.status === 200 ? entry.body : null;
  desiredForm.entry = e;
  desiredForm.loads = firmware.status === 200 && firmware.body ? firmware.body.loads : [];
  const models = desired.status === 200 && desired.body ? desired.body.known_models || [] : [];
  $("#model-list").replaceChildren(...models.map((m) => el("option", { value: m.name }, `${m.lines} line${m.lines === 1 ? "" : "s"}`)));
  $("#desired-source").textContent = !e
    ? "No entry for this phone yet: it follows its group, model and the defaults. Saving adds one."
    : e.source === "run_time"
      ? "Entry set here (kept in desired-phones.json); Delete entry drops it."
      : "Entry from the config file; saving overrides it while phoneboot runs.";
  $("#f-model").value = (e && e.model) || "";
  $("#f-protocol").value = ((e && e.protocol) || "").toLowerCase();
  $("#f-label").value = (e && e.label) || "";
  $("#f-lines tbody").replaceChildren(...((e && e.lines) || []).map(lineRow));
  $("#f-dials tbody").replaceChildren(...((e && e.speed_dials) || []).map(dialRow));
  renumber();
  $("#f-load").value = "";
  fillLoads();
  const del = $("#desired-delete");
  del.disabled = !e || e.source !== "run_time";
  del.title = !e ? "this phone has no entry" : e.source !== "run_time"
    ? "this entry is in the config file: change it there" : "drop this entry; the config file and defaults apply again";
}

/** The `[[phone]]` keys as JSON; keys the form does not show are kept as they were. */
function formBody() {
  const body = { ...(desiredForm.entry || {}) };
  for (const k of ["mac", "source", "lines", "speed_dials"]) delete body[k];
  const set = (k, v) => { if (v) body[k] = v; else delete body[k]; };
  set("model", $("#f-model").value.trim());
  set("protocol", $("#f-protocol").value);
  set("load", $("#f-load").value);
  set("label", $("#f-label").value);
  const value = (tr, f) => tr.querySelector(`input[data-field=${f}]`).value;
  body.lines = [...$("#f-lines tbody").children].map((tr) => {
    const l = { extension: value(tr, "extension").trim() };
    for (const k of ["display", "auth", "label"]) if (value(tr, k).trim()) l[k] = value(tr, k).trim();
    if (value(tr, "password")) l.password = value(tr, "password");
    return l;
  });
  body.speed_dials = [...$("#f-dials tbody").children].map((tr) => ({
    number: value(tr, "number").trim(), label: value(tr, "label").trim(),
  }));
  return body;
}

async function saveDesired(ev) {
  ev.preventDefault();
  const mac = state.phoneMac;
  clearErrors();
  $("#desired-note").textContent = "saving…";
  let r, body;
  try {
    r = await fetch(`/api/desired/phones/${encodeURIComponent(mac)}`, {
      method: "PUT",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify(formBody()),
    });
    body = await r.json().catch(() => ({}));
  } catch (e) {
    $("#desired-note").textContent = "phoneboot does not answer; nothing saved";
    return;
  }
  if (r.ok) {
    $("#desired-note").textContent = "Saved: the phone gets it with its next config.";
    await loadForm();
    refreshPhone();
  } else if (r.status === 422) {
    $("#desired-note").textContent = "Not saved: see the marked field.";
    showError(body.key, body.problem || body.error);
  } else {
    $("#desired-note").textContent = "Not saved.";
    showError("", body.error || `phoneboot answered ${r.status}`);
  }
}

async function deleteDesired() {
  const mac = state.phoneMac;
  clearErrors();
  let text;
  try {
    const r = await fetch(`/api/desired/phones/${encodeURIComponent(mac)}`, { method: "DELETE", headers: { Accept: "application/json" } });
    const body = await r.json().catch(() => ({}));
    text = r.ok ? "Entry deleted: the config file and the defaults apply again." : `Not deleted: ${body.error || r.status}`;
  } catch (e) {
    text = "phoneboot does not answer";
  }
  await loadForm();
  $("#desired-note").textContent = text;
  refreshPhone();
}

function eventItem(e) {
  return el("li", { class: severity(e), "data-type": e.type, "data-mac": e.mac || "", "data-seq": e.seq ?? "" },
    el("span", { class: "t", title: e.time_unix_ms ? new Date(e.time_unix_ms).toString() : "" }, clock(e.time_unix_ms)),
    el("span", { class: "k" }, e.type),
    e.mac ? el("span", { class: "m", onclick: () => { location.hash = `#/phone/${e.mac}`; } }, e.mac) : null,
    eventText(e));
}

function eventMatches(e) {
  const mac = $("#ev-mac").value.trim();
  const type = $("#ev-type").value;
  const text = $("#ev-text").value.trim().toLowerCase();
  if (type && e.type !== type) return false;
  if (mac && !(macHex(mac) && macHex(e.mac).includes(macHex(mac)))) return false;
  if (text && !`${e.type} ${e.mac || ""} ${eventText(e)}`.toLowerCase().includes(text)) return false;
  return true;
}

function renderEvents() {
  const shown = state.events.filter(eventMatches).slice(-MAX_ROWS).reverse();
  $("#event-list").replaceChildren(...shown.map(eventItem));
  eventStatus();
}

function eventStatus() {
  $("#ev-status").textContent = state.paused
    ? `paused — ${state.pending.length} new events held`
    : `${state.events.length} events`;
  const b = $("#ev-pause");
  b.textContent = state.paused ? "Resume" : "Pause";
  b.classList.toggle("paused", state.paused);
}

function addEvent(e) {
  const key = `${e.seq}:${e.time_unix_ms}`;
  if (state.seen.has(key)) return;
  state.seen.add(key);
  if (state.paused) {
    state.pending.push(e);
    eventStatus();
  } else {
    showEvent(e);
  }
  // Live timeline of the open phone page.
  if (state.view === "phone" && e.mac && e.mac === state.phoneMac) {
    state.timeline.push(e);
    $("#phone-timeline").prepend(eventItem(e));
  }
  // A phone event changes the phones table: fetch it now, not at the next tick.
  if (e.type === "phone" && state.view === "phones") refreshPhones();
}

function showEvent(e) {
  state.events.push(e);
  if (state.events.length > MAX_EVENTS) {
    for (const old of state.events.splice(0, state.events.length - MAX_EVENTS)) {
      state.seen.delete(`${old.seq}:${old.time_unix_ms}`);
    }
  }
  if (!state.types.has(e.type)) {
    state.types.add(e.type);
    $("#ev-type").append(el("option", { value: e.type }, e.type));
  }
  if (state.view === "events" && eventMatches(e)) {
    const list = $("#event-list");
    list.prepend(eventItem(e));
    while (list.children.length > MAX_ROWS) list.lastChild.remove();
  }
  eventStatus();
}

function togglePause() {
  state.paused = !state.paused;
  if (!state.paused) {
    const held = state.pending;
    state.pending = [];
    for (const e of held) showEvent(e);
  }
  eventStatus();
}

/**
 * Follows the SSE stream with fetch rather than EventSource: it sees every
 * event type (EventSource needs a listener per name), and a 401 is told
 * apart from a network error. Reconnects with a backlog; `seen` drops the
 * overlap.
 */
async function followEvents() {
  const live = $("#live");
  for (;;) {
    try {
      const r = await fetch("/api/events/stream?backlog=500", { headers: { Accept: "text/event-stream" }, cache: "no-store" });
      if (r.status === 401) {
        banner("This server needs its API token: open /?token=YOUR-TOKEN once in this browser.");
        throw new Error("401");
      }
      if (!r.ok || !r.body) throw new Error(`status ${r.status}`);
      live.className = "live on";
      live.textContent = "live";
      const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
      let buf = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += value.replace(/\r\n?/g, "\n");
        let end;
        while ((end = buf.indexOf("\n\n")) >= 0) {
          const block = buf.slice(0, end);
          buf = buf.slice(end + 2);
          const data = block.split("\n").filter((l) => l.startsWith("data:")).map((l) => l.slice(5).replace(/^ /, "")).join("\n");
          const name = (block.split("\n").find((l) => l.startsWith("event:")) || "").slice(6).trim();
          if (!data) continue;
          let e;
          try { e = JSON.parse(data); } catch (err) { continue; }
          if (name === "lagged") e = { type: "lagged", time_unix_ms: Date.now(), seq: `lag${Date.now()}`, ...e };
          addEvent(e);
        }
      }
    } catch (err) {
      // fall through to the retry below
    }
    live.className = "live off";
    live.textContent = "reconnecting…";
    await new Promise((ok) => setTimeout(ok, 2000));
  }
}

// ---- leases, transfers, firmware, desired ----------------------------------

async function refreshLeases() {
  const { status, body } = await getJson("/api/leases");
  if (status !== 200 || !body) return;
  fillTable("#leases", body.leases.map((l) => el("tr", { "data-mac": l.mac },
    el("td", { class: "mono" }, el("a", { href: `#/phone/${l.mac}` }, l.mac)),
    el("td", { class: "mono" }, l.ip), el("td", {}, l.model || ""), el("td", {}, l.hostname || ""),
    el("td", { title: new Date(l.expires_unix_ms).toString() }, ago(l.expires_unix_ms)),
    el("td", { class: l.state === "active" ? "ok" : "muted" }, l.state))));
}

async function refreshTransfers() {
  const { status, body } = await getJson("/api/transfers");
  if (status !== 200 || !body) return;
  fillTable("#transfers-live", body.live.map((t) => el("tr", { "data-id": t.id, "data-file": t.file },
    el("td", { class: "mono" }, t.client), el("td", { class: "mono" }, t.file), el("td", {}, t.protocol),
    el("td", {}, progressBar(t.bytes, t.size, { "data-id": t.id }), ` ${bytes(t.bytes)} of ${bytes(t.size)}`),
    el("td", { class: "mono" }, t.source), el("td", {}, duration(t.duration_ms)))));
  fillTable("#transfers-recent", body.recent.map((t) => el("tr", { "data-id": t.id, "data-file": t.file },
    el("td", { class: "mono" }, t.client), el("td", { class: "mono" }, t.file), el("td", {}, t.protocol),
    el("td", { class: ["ok", "final_ack_lost"].includes(t.result) ? "ok" : "bad" }, t.result),
    el("td", {}, `${bytes(t.bytes)} of ${bytes(t.size)}`), el("td", {}, duration(t.duration_ms)),
    el("td", {}, clock(t.started_unix_ms)))));
}

async function refreshFirmware() {
  const { status, body } = await getJson("/api/firmware");
  if (status !== 200 || !body) return;
  const complete = body.loads.filter((l) => l.complete).length;
  $("#firmware-summary").textContent = body.loads.length
    ? `${complete} of ${body.loads.length} loads complete (only complete loads are served)` +
      (body.default_protocol ? ` · term files for ${body.default_protocol}: ${body.term_files.join(", ") || "none"}` : "")
    : "The firmware library is empty: import bundles with `phoneboot firmware import`.";
  fillTable("#firmware", body.loads.map((l) => el("tr", { "data-load": l.name },
    el("td", { class: "mono" }, l.name), el("td", {}, l.family), el("td", {}, l.protocol || ""),
    el("td", {}, l.version), el("td", {}, l.models.join(", ")), el("td", {}, l.files), el("td", {}, bytes(l.size)),
    el("td", { class: l.complete ? "ok" : "bad" }, l.complete ? "complete" : `missing ${l.missing.join(", ")}`),
    el("td", {}, l.source === "root" ? "in the TFTP root" : "library"))));
  const st = await getJson("/api/status");
  const root = st.body && st.body.root_files;
  if (!root) return;
  $("#root-mode").textContent = root.mode === "serve"
    ? "Files here are served as they are, in place of generated ones ([provision] root_files = \"serve\")."
    : "phoneboot's generated configs win over files here ([provision] root_files = \"generated\").";
  $("#root-notes").replaceChildren(...(root.notes.length ? root.notes : [{ file: "", meaning: "nothing here changes what phones get" }])
    .map((n) => el("li", { "data-file": n.file, class: n.problem ? "bad" : "" },
      el("span", { class: "mono" }, n.file), ` ${n.meaning}`,
      n.problem ? el("span", { class: "fix" }, ` ⚠ ${n.problem}`) : null)));
}

async function refreshDesired() {
  const { status, body } = await getJson("/api/desired");
  if (status === 404) {
    note("#desired-note", "This server does not publish its desired state yet (/api/desired is missing).");
    $("#desired").textContent = "";
  } else if (status === 200) {
    note("#desired-note", "As configured, SIP passwords hidden.");
    $("#desired").textContent = JSON.stringify(body, null, 2);
  }
}

// ---- start ------------------------------------------------------------------

function start() {
  $("#phone-filter").addEventListener("input", () => renderPhones(state.phones));
  $("#phone-stage").addEventListener("change", () => renderPhones(state.phones));
  for (const th of document.querySelectorAll("#phones th[data-sort]")) {
    th.addEventListener("click", () => {
      const k = th.dataset.sort;
      state.sort = { key: k, dir: state.sort.key === k ? -state.sort.dir : 1 };
      renderPhones(state.phones);
    });
  }
  for (const id of ["#ev-mac", "#ev-type", "#ev-text"]) {
    $(id).addEventListener("input", renderEvents);
  }
  $("#ev-pause").addEventListener("click", togglePause);
  $("#phone-reboot").addEventListener("click", rebootPhone);
  $("#phone-retry").addEventListener("click", retryHop);
  $("#desired-form").addEventListener("submit", saveDesired);
  $("#desired-delete").addEventListener("click", deleteDesired);
  $("#f-add-line").addEventListener("click", () => { $("#f-lines tbody").append(lineRow({})); renumber(); });
  $("#f-add-dial").addEventListener("click", () => { $("#f-dials tbody").append(dialRow({})); renumber(); });
  $("#f-model").addEventListener("input", fillLoads);
  $("#f-protocol").addEventListener("change", fillLoads);
  window.addEventListener("hashchange", route);
  route();
  refreshStatus();
  followEvents();
  setInterval(() => {
    if (["phones", "phone", "transfers"].includes(state.view)) refreshView();
  }, FAST_MS);
  setInterval(() => {
    refreshStatus();
    if (["leases", "firmware", "desired"].includes(state.view)) refreshView();
  }, SLOW_MS);
}

// For tests and the browser console.
window.phoneboot = { state, errors, renderPhones, renderEvents, eventText };

start();
