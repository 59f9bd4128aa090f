// image-catalog console: one page over the REST door (docs/contract/imagemgmt-api.md).
// Plain JavaScript, no framework and no build step. The bearer token is kept in this tab's
// sessionStorage and sent as `Authorization: Bearer`, never in a URL. Pages are hash
// routes: #/images, #/images/{id}, #/images/{id}/versions/{vid}, #/operations/{id}.
// Every record is put in the page as text (textContent), never as HTML.

const API = "/imagemgmt/v1";
const TOKEN_KEY = "image-catalog.token";
const PAGE_SIZE = 10;
const POLL_MS = 1000;
// Version statuses whose operation is still running: their progress is followed live.
const BUSY = new Set(["PENDING", "IMPORT_IN_PROGRESS", "PUBLISH_IN_PROGRESS",
  "REPLICATION_IN_PROGRESS", "VALIDATION_IN_PROGRESS", "DELETING", "IN_PROGRESS"]);
const SOURCES = [["AZURE_SIG", "Copy from an Azure gallery (AZURE_SIG)"],
  ["AZURE_CUSTOM_VM", "Import a customer VM (AZURE_CUSTOM_VM)"]];

const main = document.getElementById("main");
const live = document.getElementById("live");
const signoutButton = document.getElementById("signout");
// Bumped by every render: pollers of a page that is gone stop.
let generation = 0;
let uid = 0;

// ------------------------------------------------------------------ DOM and API helpers

function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") el.className = v;
    else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

const token = () => sessionStorage.getItem(TOKEN_KEY);
const announce = (text) => { live.textContent = text; };
const when = (iso) => (iso ? new Date(iso).toLocaleString() : "—");
const enc = encodeURIComponent;

const markerChip = (m) => h("span", { class: "marker" }, h("span", { class: "sr-only" }, "marker "), m.name);

function badge(status) {
  const s = String(status || "UNKNOWN");
  let kind = "busy";
  if (/FAILED/.test(s)) kind = "bad";
  else if (["AVAILABLE", "PUBLISHED", "SUCCEEDED", "PUBLISH_COMPLETE"].includes(s)) kind = "ok";
  else if (["DELETING", "DISABLED", "CANCELLED", "UNPUBLISHED", "NOT_READY"].includes(s)) kind = "muted";
  else if (["IMPORT_COMPLETE", "PARTIALLY_AVAILABLE", "PARTIALLY_PUBLISHED"].includes(s)) kind = "info";
  return h("span", { class: `badge ${kind}`, "data-status": s }, s);
}

class ApiError extends Error {
  constructor(status, problem) {
    super((problem && (problem.detail || problem.code)) || `HTTP ${status}`);
    this.status = status;
    this.problem = problem || {};
  }
}

// One REST call; a 401 signs out and shows the token form with the door's reason.
async function api(method, path, body) {
  const t = token();
  if (!t) { signOut("Enter your token to continue."); throw new ApiError(401, { handled: true }); }
  const headers = { Authorization: `Bearer ${t}`, Accept: "application/json" };
  const init = { method, headers, cache: "no-store", credentials: "omit" };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let resp;
  try {
    resp = await fetch(API + path, init);
  } catch (e) {
    throw new ApiError(0, { code: "NETWORK_ERROR", detail: `the app did not answer (${e.message})` });
  }
  const text = await resp.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = { detail: text }; }
  if (resp.status === 401) {
    signOut(`Your token was refused: ${(data && data.detail) || "unauthorized"}. Enter a valid token.`, true);
    throw new ApiError(401, { ...data, handled: true });
  }
  if (!resp.ok) throw new ApiError(resp.status, data);
  return { data, status: resp.status, operation: resp.headers.get("Operation-Location") };
}

// Every page of a listing (bounded: at most 10 pages of 100).
async function all(path) {
  const out = [];
  for (let page = 0; page < 10; page++) {
    const sep = path.includes("?") ? "&" : "?";
    const { data } = await api("GET", `${path}${sep}page=${page}&size=100`);
    out.push(...(data.content || []));
    if (data.last !== false) break;
  }
  return out;
}

function problemText(e) {
  const p = e.problem || {};
  return `${p.code || `HTTP ${e.status}`}: ${p.detail || e.message}`;
}

// ------------------------------------------------------------------ pages and routing

function render(gen, title, focus, ...nodes) {
  if (gen !== generation) return false;
  document.title = `${title} · image-catalog console`;
  const heading = h("h1", { id: "page-title", tabindex: "-1" }, title);
  main.replaceChildren(heading, ...nodes);
  if (focus) heading.focus();
  return true;
}

async function route(focus = true) {
  const gen = ++generation;
  if (!token()) { renderSignIn(); return; }
  signoutButton.hidden = false;
  const raw = location.hash.slice(1) || "/images";
  const [path, query] = raw.split("?");
  // A hash is whatever the address bar holds: a malformed escape (`%E0%A4%A`) is a page
  // that does not exist, never an uncaught URIError.
  const decode = (part) => { try { return decodeURIComponent(part); } catch { return null; } };
  const parts = path.split("/").filter(Boolean).map(decode);
  if (parts.includes(null)) parts.length = 0, parts.push("not-a-page");
  const params = new URLSearchParams(query || "");
  try {
    if (parts[0] === "images" && parts.length === 1) await imagesPage(gen, focus, params);
    else if (parts[0] === "images" && parts.length === 2) await imagePage(gen, focus, parts[1]);
    else if (parts[0] === "images" && parts[2] === "versions" && parts.length === 4) {
      await versionPage(gen, focus, parts[1], parts[3]);
    } else if (parts[0] === "operations" && parts.length === 2) await operationPage(gen, focus, parts[1]);
    else render(gen, "Not found", focus, h("p", {}, "No such page. ", h("a", { href: "#/images" }, "Back to the images")));
  } catch (e) {
    if (e.problem && e.problem.handled) return;
    render(gen, "Something went wrong", focus, h("p", { class: "error", role: "alert" }, problemText(e)),
      h("p", {}, h("a", { href: "#/images" }, "Back to the images")));
  }
}

const refresh = () => route(false);

function signOut(message, refused = false) {
  sessionStorage.removeItem(TOKEN_KEY);
  renderSignIn(message, refused);
}

function renderSignIn(message, refused = false) {
  const gen = ++generation;
  signoutButton.hidden = true;
  const input = h("input", { id: "token", name: "token", type: "password", autocomplete: "off",
    spellcheck: "false", required: true, "aria-describedby": message ? "token-hint token-message" : "token-hint",
    "aria-invalid": refused ? "true" : null });
  const form = h("form", { id: "signin", class: "card narrow" },
    h("div", { class: "field" }, h("label", { for: "token" }, "REST bearer token"), input,
      h("p", { id: "token-hint", class: "hint" },
        "The token of your org (./dev up prints the demo org's). It is kept for this browser tab only and sent in the Authorization header.")),
    message && h("p", { id: "token-message", class: "error", role: "alert" }, message),
    h("button", { type: "submit" }, "Sign in"));
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const t = input.value.trim();
    if (!t) return;
    sessionStorage.setItem(TOKEN_KEY, t);
    route();
  });
  render(gen, "Sign in", false, form);
  input.focus();
}

// ------------------------------------------------------------------ forms and field errors

let fieldSeq = 0;
// A labelled control with a place for its error; `fields` are the `errors[].field` names
// (or prefixes) the door uses for it.
function field(label, control, fields, hint) {
  const id = control.id || `f${++fieldSeq}`;
  control.id = id;
  control.dataset.fields = fields.join(" ");
  const err = h("p", { id: `${id}-error`, class: "field-error", hidden: true });
  const hintEl = hint ? h("p", { id: `${id}-hint`, class: "hint" }, hint) : null;
  if (hintEl) control.setAttribute("aria-describedby", hintEl.id);
  const wrap = control.type === "checkbox"
    ? h("div", { class: "field check" }, control, h("label", { for: id }, label), err, hintEl)
    : h("div", { class: "field" }, h("label", { for: id }, label), control, err, hintEl);
  return wrap;
}

const select = (name, options, value) => h("select", { name },
  options.map(([v, text]) => h("option", { value: v, selected: v === value }, text)));
const input = (name, attrs = {}) => h("input", { name, type: "text", autocomplete: "off", ...attrs });

function matches(name, wanted) {
  return name === wanted || wanted.startsWith(`${name}.`) || wanted.startsWith(`${name}[`);
}

function clearErrors(form) {
  for (const el of form.querySelectorAll("[aria-invalid]")) {
    el.removeAttribute("aria-invalid");
    const hint = document.getElementById(`${el.id}-hint`);
    if (hint) el.setAttribute("aria-describedby", hint.id); else el.removeAttribute("aria-describedby");
  }
  for (const p of form.querySelectorAll(".field-error")) { p.hidden = true; p.textContent = ""; }
  const top = form.querySelector(".form-error");
  if (top) top.remove();
}

// Shows a refusal: each `errors[]` entry beside the control it names, the rest on top.
function showErrors(form, e) {
  clearErrors(form);
  const rest = [];
  let first = null;
  for (const fe of (e.problem && e.problem.errors) || []) {
    // The control that names the field exactly, else one that names a prefix of it.
    const controls = [...form.querySelectorAll("[data-fields]")].filter((c) => !c.disabled);
    const names = (c) => c.dataset.fields.split(" ");
    const control = controls.find((c) => names(c).includes(fe.field))
      || controls.find((c) => names(c).some((n) => matches(n, fe.field)));
    if (!control) { rest.push(`${fe.field}: ${fe.message}`); continue; }
    const err = document.getElementById(`${control.id}-error`);
    err.textContent = `${err.textContent ? `${err.textContent} ` : ""}${fe.message} (${fe.code})`;
    err.hidden = false;
    control.setAttribute("aria-invalid", "true");
    const hint = document.getElementById(`${control.id}-hint`);
    control.setAttribute("aria-describedby", hint ? `${err.id} ${hint.id}` : err.id);
    first = first || control;
  }
  if (rest.length || !first) {
    const text = rest.length ? rest.join("; ") : problemText(e);
    form.prepend(h("p", { class: "error form-error", role: "alert", tabindex: "-1" }, text));
  }
  (first || form.querySelector(".form-error")).focus?.();
  announce(`Refused: ${problemText(e)}`);
}

// Wires a form: `send` makes the request from its controls; on success `done` runs.
function onSubmit(form, send, done) {
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    try {
      const answer = await send(new FormData(form));
      clearErrors(form);
      await done(answer);
    } catch (e) {
      if (!(e.problem && e.problem.handled)) showErrors(form, e);
    } finally {
      button.disabled = false;
    }
  });
  return form;
}

// The source of a new image or version: a gallery image version or a customer VM.
function sourceControls(prefix) {
  return [
    field("Source", h("select", { name: "sourceType", id: `${prefix}-source-type` },
      SOURCES.map(([v, t]) => h("option", { value: v }, t))), [prefix === "image" ? "sourceStreamType" : "sourceType", "action"]),
    field("Provider instance", input("providerInstanceId", { id: `${prefix}-provider`, value: "pi-1" }), ["providerInstanceId"]),
    field("Gallery image version or VM id", input("sourceId", { id: `${prefix}-source-id`, value: "g-1" }),
      ["assetDetails.data.sourceImageVersionId", "assetDetails.data.vmId", "assetDetails"],
      "AZURE_SIG: the gallery image version (e.g. g-1); AZURE_CUSTOM_VM: the VM (e.g. vm-1)"),
    field("Multi-session", h("input", { type: "checkbox", name: "multiSession", id: `${prefix}-multi`, checked: true }),
      ["assetDetails.data.multiSession"]),
    field("Client access licence applies", h("input", { type: "checkbox", name: "cal", id: `${prefix}-cal`, checked: true }),
      ["assetDetails.data.isClientAccessLicenseApplicable"]),
  ];
}

function sourceBody(fd) {
  const type = fd.get("sourceType");
  const data = type === "AZURE_CUSTOM_VM"
    ? { vmId: fd.get("sourceId") }
    : { sourceImageVersionId: fd.get("sourceId"), multiSession: fd.has("multiSession"),
      isClientAccessLicenseApplicable: fd.has("cal") };
  return {
    providerInstanceId: fd.get("providerInstanceId"),
    assetDetails: { assetType: type === "AZURE_CUSTOM_VM" ? "AZURE_VM_IN_RG" : "AZURE_IMAGE_IN_SIG", data },
  };
}

const optional = (v) => (v && String(v).trim() ? String(v).trim() : undefined);
const list = (v) => String(v || "").split(",").map((s) => s.trim()).filter(Boolean);

// ------------------------------------------------------------------ operations

// A live progress bar that follows operation `id` to its end, then calls `done(op)`.
function follow(gen, id, done) {
  const label = `op-${++uid}`;
  const bar = h("progress", { max: 100, value: 0, "aria-labelledby": label, "data-operation": id });
  const text = h("span", { id: label }, `Operation ${id}`);
  const state = h("span", { class: "op-state" }, "…");
  const error = h("p", { class: "error", role: "alert", hidden: true });
  const box = h("div", { class: "operation", "data-operation": id }, h("div", { class: "op-head" }, text, state), bar, error);
  let failures = 0;
  const tick = async () => {
    if (gen !== generation) return;
    try {
      const { data: op } = await api("GET", `/operations/${enc(id)}`);
      failures = 0;
      bar.value = op.progress || 0;
      state.replaceChildren(badge(op.status), ` ${op.kind} · ${op.step} · attempt ${op.attempt}`,
        op.phase === "RETRY_PENDING" ? " · retry pending" : "");
      if (op.error) {
        error.hidden = false;
        error.replaceChildren(h("strong", { class: "code" }, op.error.code), " ", op.error.message);
      }
      if (["SUCCEEDED", "FAILED", "CANCELLED"].includes(op.status)) {
        announce(`Operation ${op.kind} ${op.status.toLowerCase()}`);
        if (done) setTimeout(() => gen === generation && done(op), 300);
        return;
      }
    } catch (e) {
      if (e.problem && e.problem.handled) return;
      failures += 1;
      state.textContent = `unreachable (${problemText(e)}); retrying`;
      if (failures > 30) return;
    }
    setTimeout(tick, POLL_MS);
  };
  tick();
  return box;
}

async function operationPage(gen, focus, id) {
  const { data: op } = await api("GET", `/operations/${enc(id)}`);
  const t = op.target || {};
  const link = t.versionId
    ? h("a", { href: `#/images/${enc(t.imageId)}/versions/${enc(t.versionId)}` }, "its version")
    : h("a", { href: `#/images/${enc(t.imageId)}` }, "its image");
  render(gen, `Operation ${id}`, focus, h("p", {}, `${op.kind}, started ${when(op.createdAt)}: see `, link, "."),
    follow(gen, id, null));
}

// ------------------------------------------------------------------ images

async function imagesPage(gen, focus, params) {
  const page = Math.max(0, parseInt(params.get("page") || "0", 10) || 0);
  const by = params.get("by") || "name";
  const value = params.get("value") || "";
  const q = new URLSearchParams({ page, size: PAGE_SIZE, sort: "name,asc" });
  if (value) q.set("search", `${by} $eq ${value}`);
  const { data } = await api("GET", `/images?${q}`);
  const go = (p) => { location.hash = `#/images?${new URLSearchParams({ by, value, page: p })}`; };

  const search = h("form", { class: "toolbar", role: "search", "aria-label": "Search images" },
    field("Search by", select("by", [["name", "Name"], ["status", "Status"], ["osType", "OS type"],
      ["gpuType", "GPU"], ["sourceType", "Source"], ["os", "OS"]], by), ["search"]),
    field("Equal to", input("value", { id: "search-value", value }), ["search"]),
    h("button", { type: "submit" }, "Search"),
    value && h("a", { href: "#/images", class: "button quiet" }, "Clear"));
  search.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const fd = new FormData(search);
    location.hash = `#/images?${new URLSearchParams({ by: fd.get("by"), value: fd.get("value").trim(), page: 0 })}`;
  });

  const rows = (data.content || []).map((img) => h("tr", { "data-image": img.id },
    h("th", { scope: "row" }, h("a", { href: `#/images/${enc(img.id)}` }, img.name)),
    h("td", {}, badge(img.status)),
    h("td", {}, [img.osType, img.os].filter(Boolean).join(" · ")),
    h("td", {}, img.gpuType),
    h("td", {}, img.sourceType),
    h("td", { class: "num" }, img.versionCount),
    h("td", {}, when(img.updatedAt))));
  const table = h("table", { id: "images" },
    h("caption", {}, `${data.totalElements} image${data.totalElements === 1 ? "" : "s"}${value ? ` where ${by} = ${value}` : ""}`),
    h("thead", {}, h("tr", {}, ["Name", "Status", "OS", "GPU", "Source", "Versions", "Updated"]
      .map((c) => h("th", { scope: "col" }, c)))),
    h("tbody", {}, rows.length ? rows : h("tr", {}, h("td", { colspan: 7 }, "No images."))));
  const pager = h("nav", { class: "pager", "aria-label": "Pages" },
    h("button", { type: "button", disabled: data.first, onclick: () => go(page - 1) }, "Previous page"),
    h("span", {}, `Page ${data.totalPages ? page + 1 : 0} of ${data.totalPages}`),
    h("button", { type: "button", disabled: data.last, onclick: () => go(page + 1) }, "Next page"));
  render(gen, "Images", focus, search, table, pager, newImageForm());
}

function newImageForm() {
  const form = h("form", { id: "new-image", class: "card", "aria-labelledby": "new-image-title" },
    h("h2", { id: "new-image-title" }, "New image"),
    field("Name", input("streamName", { id: "image-name" }), ["streamName"], "1–64 letters, digits, _ or -"),
    field("Description", input("description", { id: "image-description" }), ["streamDescription"]),
    field("OS type", select("osType", ["WINDOWS", "CLIENT", "SERVER", "WVD", "LINUX"].map((v) => [v, v]), "WINDOWS"), ["osType"]),
    field("GPU", select("gpuType", ["NONE", "NVIDIA", "AMD"].map((v) => [v, v]), "NONE"), ["gpuType"]),
    sourceControls("image"),
    h("button", { type: "submit" }, "Create image"));
  return onSubmit(form, (fd) => {
    const type = fd.get("sourceType");
    const action = type === "AZURE_CUSTOM_VM" ? "import-custom-vm" : "copy-existing-image";
    return api("POST", `/images?action=${action}`, {
      streamName: fd.get("streamName"), streamDescription: optional(fd.get("description")),
      sourceStreamType: type, osType: fd.get("osType"), gpuType: fd.get("gpuType"), ...sourceBody(fd),
    });
  }, ({ data }) => { announce(`Image ${data.name} created`); location.hash = `#/images/${enc(data.id)}`; });
}

// ------------------------------------------------------------------ one image

// The versions as a lineage tree: each under the version it came from.
function lineage(versions) {
  const byId = new Map(versions.map((v) => [v.id, v]));
  const byName = new Map(versions.map((v) => [v.name, v]));
  const children = new Map();
  const roots = [];
  for (const v of versions) {
    const history = v.versionHistory || [];
    const parent = byId.get(v.sourceVersionId) || byName.get(history[history.length - 1]);
    v.parent = parent && parent.id !== v.id ? parent : null;
    if (v.parent) (children.get(v.parent.id) || children.set(v.parent.id, []).get(v.parent.id)).push(v);
    else roots.push(v);
  }
  return { roots, children };
}

function versionNode(gen, imageId, v, children) {
  const kids = children.get(v.id) || [];
  return h("li", { "data-version": v.name },
    h("div", { class: "node" },
      h("a", { href: `#/images/${enc(imageId)}/versions/${enc(v.id)}`, class: "vname" }, v.name),
      h("span", { class: "vtype" }, v.versionType),
      badge(v.status),
      (v.markers || []).map(markerChip),
      v.parent && h("span", { class: "from" }, `from ${v.parent.name}`)),
    BUSY.has(v.status) && v.operationId ? follow(gen, v.operationId, refresh) : null,
    kids.length ? h("ul", {}, kids.map((k) => versionNode(gen, imageId, k, children))) : null);
}

async function imagePage(gen, focus, id) {
  const [{ data: img }, versions] = await Promise.all([
    api("GET", `/images/${enc(id)}`), all(`/images/${enc(id)}/versions?sort=name,asc`)]);
  const { roots, children } = lineage(versions);
  const facts = h("dl", { class: "facts" },
    [["Status", badge(img.status)], ["OS", [img.osType, img.os].filter(Boolean).join(" · ")], ["GPU", img.gpuType],
      ["Source", img.sourceType], ["Versions", img.versionCount], ["Created", when(img.createdAt)],
      ["Updated", when(img.updatedAt)], ["Description", img.description || "—"]]
      .map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]));
  const markers = (img.markers || []).map((m) => {
    const v = versions.find((x) => x.id === m.versionId);
    return h("li", {}, markerChip(m), " → ",
      v ? h("a", { href: `#/images/${enc(id)}/versions/${enc(v.id)}` }, v.name) : m.versionId);
  });
  const tree = h("section", { "aria-labelledby": "tree-title" },
    h("h2", { id: "tree-title" }, "Versions"),
    h("p", { class: "hint" }, "Each version sits under the version it came from, with the markers that point at it."),
    roots.length ? h("ul", { class: "tree", id: "version-tree" }, roots.map((v) => versionNode(gen, id, v, children)))
      : h("p", {}, "No versions."));
  const canAdd = ["AZURE_SIG", "AZURE_CUSTOM_VM"].includes(img.sourceType);
  render(gen, img.name, focus,
    h("p", {}, h("a", { href: "#/images" }, "← Images")), facts,
    h("section", { "aria-labelledby": "markers-title" }, h("h2", { id: "markers-title" }, "Markers"),
      markers.length ? h("ul", { class: "plain" }, markers) : h("p", {}, "No markers.")),
    tree,
    canAdd ? addVersionForm(img, versions)
      : h("p", { class: "hint" }, `Versions can be added to AZURE_SIG and AZURE_CUSTOM_VM images only; this one is ${img.sourceType}.`));
}

function addVersionForm(img, versions) {
  const sources = [["", "None (MAJOR: from the newest version)"], ...versions.map((v) => [v.id, `${v.name} (${v.status})`])];
  const form = h("form", { id: "add-version", class: "card", "aria-labelledby": "add-version-title" },
    h("h2", { id: "add-version-title" }, "Add Version"),
    field("Version type", select("versionType", [["MAJOR", "MAJOR: next major number"],
      ["MINOR", "MINOR: next minor of the source's major"]], "MAJOR"), ["versionType"]),
    field("Source version", h("select", { name: "sourceVersionId", id: "source-version" },
      sources.map(([v, t]) => h("option", { value: v }, t))), ["sourceVersionId"], "MINOR needs one"),
    sourceControls("version"),
    field("Markers", input("markers", { id: "version-markers" }), ["markers"], "optional, comma separated, e.g. HRPro"),
    field("Description", input("description", { id: "version-description" }), ["description"]),
    h("button", { type: "submit" }, "Add version"));
  return onSubmit(form, (fd) => api("POST", `/images/${enc(img.id)}/versions`, {
    versionType: fd.get("versionType"), sourceVersionId: optional(fd.get("sourceVersionId")),
    sourceType: fd.get("sourceType"), osType: img.osType, gpuType: img.gpuType,
    description: optional(fd.get("description")), markers: list(fd.get("markers")), ...sourceBody(fd),
  }), ({ data }) => {
    announce(`Version ${data.versionName} added`);
    location.hash = `#/images/${enc(img.id)}/versions/${enc(data.versionId)}`;
  });
}

// ------------------------------------------------------------------ one version

async function versionPage(gen, focus, imageId, versionId) {
  const base = `/images/${enc(imageId)}/versions/${enc(versionId)}`;
  const [{ data: img }, { data: v }, copies, versions] = await Promise.all([
    api("GET", `/images/${enc(imageId)}`), api("GET", base), all(`${base}/copies`),
    all(`/images/${enc(imageId)}/versions`)]);
  // The version it came from: the named source, else (MAJOR) the newest one when it was added.
  const history = v.versionHistory || [];
  const from = versions.find((x) => x.id === v.sourceVersionId)
    || versions.find((x) => x.name === history[history.length - 1]);
  const facts = h("dl", { class: "facts" },
    [["Status", h("span", { id: "version-status" }, badge(v.status))], ["State", v.state], ["Type", v.versionType],
      ["Source", v.sourceType],
      ["From", from ? h("a", { href: `#/images/${enc(imageId)}/versions/${enc(from.id)}` }, from.name) : "—"],
      ["Lineage", [...(v.versionHistory || []), v.name].join(" → ")],
      ["Markers", (v.markers || []).map(markerChip)],
      ["Last action", v.lastTriggeredAction || "—"], ["Created", when(v.createdAt)], ["Updated", when(v.updatedAt)],
      ["Description", v.description || "—"]].map(([k, x]) => [h("dt", {}, k), h("dd", {}, x)]));
  const operation = v.operationId
    ? h("section", { "aria-labelledby": "op-title" }, h("h2", { id: "op-title" }, "Operation"),
      follow(gen, v.operationId, BUSY.has(v.status) ? refresh : null))
    : null;
  const copyRows = copies.map((a) => h("tr", { "data-asset": a.id },
    h("th", { scope: "row" }, a.providerInstanceId), h("td", {}, a.providerLabel), h("td", {}, badge(a.status)),
    h("td", {}, a.state), h("td", { class: "code" }, a.errorCode || ""), h("td", {}, a.errorDetails || ""),
    h("td", {}, when(a.updatedAt))));
  const copyTable = h("table", { id: "copies" }, h("caption", {}, "Copies per provider instance"),
    h("thead", {}, h("tr", {}, ["Provider instance", "Provider", "Status", "State", "Error code", "Error", "Updated"]
      .map((c) => h("th", { scope: "col" }, c)))),
    h("tbody", {}, copyRows.length ? copyRows : h("tr", {}, h("td", { colspan: 7 }, "No copies."))));
  const timeline = h("ol", { class: "timeline", id: "status-history" },
    (v.statusHistory || []).map((s) => h("li", {}, h("time", { datetime: s.at }, when(s.at)), " ", badge(s.status),
      s.assetStatus ? h("span", { class: "asset-status" }, ` copy: ${s.assetStatus}`) : null)));
  render(gen, `${img.name} ${v.name}`, focus,
    h("p", {}, h("a", { href: `#/images/${enc(imageId)}` }, `← ${img.name}`)), facts, operation,
    actions(imageId, v), copyTable,
    h("section", { "aria-labelledby": "history-title" }, h("h2", { id: "history-title" }, "Status history"), timeline));
}

// The version's allowed actions, and only those.
function actions(imageId, v) {
  const base = `/images/${enc(imageId)}/versions/${enc(v.id)}`;
  const allowed = new Set(v.allowedActions || []);
  const after = (what) => ({ data, operation }) => {
    announce(`${what} started`);
    if (data && data.streamId && data.id && data.id !== v.id) {
      location.hash = `#/images/${enc(data.streamId)}/versions/${enc(data.id)}`;
    } else if (data && data.versions && data.id) location.hash = `#/images/${enc(data.id)}`;
    else if (operation && what === "Delete") location.hash = `#/images/${enc(imageId)}`;
    else refresh();
  };
  const small = (id, title, controls, label, send, what) => onSubmit(
    h("form", { id, class: "action", "aria-labelledby": `${id}-title` }, h("h3", { id: `${id}-title` }, title),
      controls, h("button", { type: "submit", class: id === "delete" ? "danger" : null }, label)),
    send, after(what));
  const forms = [];
  if (allowed.has("PUBLISH")) {
    forms.push(small("publish", "Publish to replicas", field("Replicas", input("replicas", { id: "publish-replicas", value: "pi-1" }),
      ["replicas"], "provider instances, comma separated"), "Publish",
    (fd) => api("POST", `${base}?action=publish`, { replicas: list(fd.get("replicas")).map((p) => ({ providerInstanceId: p })) }), "Publish"));
  }
  if (allowed.has("REPUBLISH")) {
    forms.push(small("republish", "Re-run publishing", [], "Republish", () => api("POST", `${base}/republish`, {}), "Republish"));
  }
  if (allowed.has("CLONE")) {
    forms.push(small("clone", "Clone this version", field("New image name", input("imageName", { id: "clone-name" }), ["imageName"],
      "empty: a new version of this image"), "Clone", (fd) => {
      const imageName = optional(fd.get("imageName"));
      return imageName ? api("POST", `${base}/clone?action=clone-image`, { imageName })
        : api("POST", `${base}/clone?action=clone-version`, {});
    }, "Clone"));
  }
  if (allowed.has("EDIT")) {
    forms.push(small("move-marker", "Move a marker here", field("Marker", input("marker", { id: "marker-name" }),
      ["markers"], "placed on this version, moved here if it points elsewhere"), "Move marker here",
    (fd) => api("PATCH", base, { markers: [...(v.markers || []).map((m) => m.name), ...list(fd.get("marker"))] }), "Marker move"));
  }
  if (allowed.has("DELETE")) {
    const confirm = h("input", { type: "checkbox", name: "confirm", id: "delete-confirm", required: true });
    forms.push(small("delete", "Delete this version", field("Yes, delete this version", confirm, ["force"]), "Delete version",
      () => api("DELETE", base), "Delete"));
  }
  return h("section", { "aria-labelledby": "actions-title" }, h("h2", { id: "actions-title" }, "Actions"),
    forms.length ? h("div", { class: "actions" }, forms) : h("p", {}, "No action is allowed in this status."));
}

// ------------------------------------------------------------------ start

signoutButton.addEventListener("click", () => {
  signOut("Signed out.");
  history.replaceState(null, "", "#/images");
});
window.addEventListener("hashchange", () => route());
route();
