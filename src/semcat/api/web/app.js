// semcat's page: categorize, review, correct, browse. Plain JavaScript over the public
// JSON API (no build step, no CDN); every text from the API is set as text, never HTML.
"use strict";

const KEY_STORE = "semcat-api-key"; // sessionStorage: the key lives as long as the tab
const BATCH = 32; // products per /categorize call in the review queue
const state = { ready: null, taxonomy: [], queue: [], current: 0 };
const $ = (id) => document.getElementById(id);
// where a neighbor was found, and what its score is
const SPACES = { text: "text similarity", image: "photo similarity", lexical: "word match" };
window.semcatTimings = []; // {submitToResult} per categorization, read by the browser tests

// ------------------------------------------------------------------ the API
let keyWaiters = [];

function askKey() {
  const form = $("key-form");
  form.hidden = false;
  $("api-key").focus();
  return new Promise((resolve, reject) => keyWaiters.push({ resolve, reject }));
}

$("key-form").addEventListener("submit", (event) => {
  event.preventDefault();
  sessionStorage.setItem(KEY_STORE, $("api-key").value);
  $("key-form").hidden = true;
  keyWaiters.forEach((w) => w.resolve());
  keyWaiters = [];
});
$("key-cancel").addEventListener("click", () => {
  $("key-form").hidden = true;
  keyWaiters.forEach((w) => w.reject(new Error("this needs the API key")));
  keyWaiters = [];
});

async function api(method, path, body, retried = false) {
  const headers = {};
  const key = sessionStorage.getItem(KEY_STORE);
  if (key) headers["X-API-Key"] = key;
  let payload;
  if (body instanceof FormData) payload = body;
  else if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    payload = JSON.stringify(body);
  }
  const response = await fetch(path, { method, headers, body: payload });
  if (response.status === 401 && !retried) {
    sessionStorage.removeItem(KEY_STORE);
    await askKey();
    return api(method, path, body, true);
  }
  if (response.status === 204) return null;
  let data = null;
  try { data = await response.json(); } catch (_) { /* not JSON */ }
  if (!response.ok) {
    throw new Error(data && data.detail ? data.detail : `${response.status} ${response.statusText}`);
  }
  return data;
}

function showError(error) {
  const box = $("error");
  box.textContent = error instanceof Error ? error.message : String(error);
  box.hidden = false;
}

function clearError() {
  $("error").hidden = true;
  $("error").textContent = "";
}

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (name === "text") node.textContent = value;
    else if (name === "class") node.className = value;
    else node.setAttribute(name, value);
  }
  for (const child of children) if (child) node.append(child);
  return node;
}

function autoLine(c) {
  if (!c.calibrated || c.threshold == null) return `Every prediction goes to review: ${c.reason || "not calibrated"}.`;
  return `Auto-file at ${percent(c.target_precision)} precision: confidence ≥ ${c.threshold.toFixed(2)}, `
    + `${percent(c.expected_auto_share)} of the catalog's own products would be filed without a look.`;
}

function percent(score) { return `${Math.round(score * 100)}%`; }
// a calibrated confidence is a probability; without a calibration it is a mixed score (marked *)
function confidenceText(value, calibrated) { return value == null ? "–" : `${percent(value)}${calibrated ? "" : "*"}`; }

// ------------------------------------------------------------------ views
function showView(name) {
  document.querySelectorAll(".tab").forEach((tab) => tab.setAttribute("aria-pressed", String(tab.dataset.view === name)));
  document.querySelectorAll(".view").forEach((view) => { view.hidden = view.id !== `view-${name}`; });
  clearError();
}
document.querySelectorAll(".tab").forEach((tab) => tab.addEventListener("click", () => showView(tab.dataset.view)));

async function loadReady() {
  try {
    state.ready = await api("GET", "ready");
    // the head (and its calibration) loads behind the first requests: ask again until it is there
    const c = state.ready.confidence || {};
    if (!c.calibrated && /loading/.test(c.reason || "")) setTimeout(loadReady, 2000);
    $("status").textContent = `${state.ready.products} products (${state.ready.labeled} labeled) · ${state.ready.model}`;
    $("auto-status").textContent = autoLine(state.ready.confidence || {});
    $("photo-field").hidden = !state.ready.images;
  } catch (error) {
    $("status").textContent = `not ready: ${error.message}`;
  }
}

// the methods and the options' bounds come from the service (GET /options), not from this page
async function loadOptions() {
  const options = await api("GET", "options");
  $("f-method").replaceChildren(
    $("f-method").options[0],
    ...options.methods.map((m) => el("option", { value: m.name, title: m.description }, m.label)),
  );
  for (const name of ["depth", "k"]) {
    const bounds = options.bounds[name] || {};
    if (bounds.ge !== undefined) $(`f-${name}`).min = bounds.ge;
    if (bounds.le !== undefined) $(`f-${name}`).max = bounds.le;
  }
}

async function loadTaxonomy() {
  const seen = new Set();
  for (let level = 1; level <= 8; level += 1) {
    const data = await api("GET", `categories?level=${level}`);
    const names = data.categories.map((c) => c.category).filter((c) => !seen.has(c));
    if (!names.length) break;
    names.forEach((c) => seen.add(c));
  }
  state.taxonomy = [...seen].sort();
  let list = $("taxonomy");
  if (!list) { list = el("datalist", { id: "taxonomy" }); document.body.append(list); }
  list.replaceChildren(...state.taxonomy.map((c) => el("option", { value: c })));
}

// -------------------------------------------------------------- categorize
function formItem() {
  const item = {};
  for (const name of ["title", "description", "brand"]) item[name] = $(`f-${name}`).value.trim();
  const attributes = $("f-attributes").value.trim();
  if (attributes) {
    try { item.attributes = JSON.parse(attributes); } catch (_) { item.attributes = attributes; }
  }
  return item;
}

function formOptions() {
  const options = {};
  if ($("f-method").value) options.method = $("f-method").value;
  for (const name of ["depth", "k"]) if ($(`f-${name}`).value) options[name] = Number($(`f-${name}`).value);
  return options;
}

async function categorizeItem(item, options, photo) {
  if (photo) {
    const form = new FormData();
    form.append("image", photo);
    for (const [name, value] of Object.entries({ ...item, ...options })) {
      if (value !== undefined && value !== "") form.append(name, typeof value === "object" ? JSON.stringify(value) : value);
    }
    return (await api("POST", "categorize/image", form)).predictions[0];
  }
  return (await api("POST", "categorize", { ...item, ...options })).predictions[0];
}

function productId(item) {
  // one stored product per text: correcting the same text again replaces it
  const text = `${item.title}\u0000${item.description}\u0000${item.brand}`;
  let hash = 2166136261;
  for (let i = 0; i < text.length; i += 1) { hash ^= text.charCodeAt(i); hash = Math.imul(hash, 16777619) >>> 0; }
  return `web-${hash.toString(16)}`;
}

function renderPrediction(prediction, item, note) {
  const box = $("result");
  box.hidden = false;
  const badge = prediction.decision === "auto"
    ? el("span", { class: "badge sure", text: "auto-file", title: "confident enough to file without a look at the target precision" })
    : el("span", { class: "badge uncertain", text: prediction.uncertain ? "review · uncertain" : "review" });
  const confidence = el("span", { class: "confidence", id: "path-confidence",
    text: `confidence ${confidenceText(prediction.confidence, prediction.calibrated)}` });
  const levels = el("ol", { class: "levels", "aria-label": "Confidence per level" },
    ...prediction.levels.map((level) => {
      const value = level.confidence ?? level.score;
      return el("li", {},
        el("span", { text: `${level.level}. ${level.category.split(" > ").pop()}` }),
        el("span", { class: "bar", role: "img", "aria-label": `level ${level.level} confidence ${percent(value)}` },
          Object.assign(el("span"), { style: `width:${percent(value)}` })),
        el("span", { text: confidenceText(value, prediction.calibrated) }));
    }));
  const alternatives = prediction.top.slice(1).map((c) => `${c.category} (${percent(c.score)})`).join(" · ");
  const correctInput = el("input", { id: "correct-category", type: "text", list: "taxonomy", autocomplete: "off",
    value: prediction.category || "" });
  const correct = el("form", { class: "correct", id: "correct-form" },
    el("button", { type: "button", id: "accept", text: "Accept" }),
    el("div", {}, el("label", { for: "correct-category", text: "…or the right category (any level)" }), correctInput),
    el("button", { type: "submit", class: "secondary", id: "save-correction", text: "Save correction" }));
  const neighbors = el("ol", { class: "neighbors", "aria-label": "Neighbors that voted" },
    ...prediction.neighbors.map((n) => {
      const photo = el("img", { src: `images/${encodeURIComponent(n.id)}`, alt: "", loading: "lazy" });
      photo.addEventListener("error", () => photo.remove());
      return el("li", {}, photo, el("span", {}, el("span", { text: n.title || n.id }), el("br"),
        el("span", { class: "cat", text: `${n.category || "unlabeled"} · ${SPACES[n.space] || n.space} ${n.score.toFixed(3)}` })));
    }));
  box.replaceChildren(
    note ? el("p", { id: "follow-note", text: note }) : "",
    el("p", { class: "path", id: "predicted-path" }, document.createTextNode(prediction.category || "no category"), badge, confidence),
    levels,
    prediction.decision_reason ? el("p", { class: "alternatives", id: "decision-reason", text: `To review: ${prediction.decision_reason}.` }) : "",
    alternatives ? el("p", { class: "alternatives", text: `Alternatives: ${alternatives}` }) : "",
    correct,
    el("h3", { text: "Neighbors that voted" }),
    neighbors);
  $("accept").addEventListener("click", () => storeCorrection(item, prediction.category));
  correct.addEventListener("submit", (event) => { event.preventDefault(); storeCorrection(item, correctInput.value.trim()); });
}

async function storeCorrection(item, category) {
  clearError();
  if (!category) { showError("give a category to store"); return; }
  try {
    const id = productId(item);
    await api("PUT", `products/${encodeURIComponent(id)}`, { ...item, category });
    const again = await categorizeItem(item, formOptions(), null);
    renderPrediction(again, item, `Stored “${item.title || item.description}” as ${category}. Categorized again: ${again.category}.`);
    loadReady();
    if (!state.taxonomy.includes(category)) loadTaxonomy().catch(showError);
  } catch (error) { showError(error); }
}

$("categorize-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  clearError();
  const item = formItem();
  const photo = $("f-photo").files[0] || null;
  const button = $("categorize-submit");
  button.disabled = true;
  const start = performance.now();
  try {
    const prediction = await categorizeItem(item, formOptions(), photo);
    renderPrediction(prediction, item);
    window.semcatTimings.push({ submitToResult: performance.now() - start });
  } catch (error) {
    showError(error);
  } finally {
    button.disabled = false;
  }
});

const drop = $("drop");
["dragenter", "dragover"].forEach((type) => drop.addEventListener(type, (e) => { e.preventDefault(); drop.classList.add("over"); }));
["dragleave", "drop"].forEach((type) => drop.addEventListener(type, (e) => { e.preventDefault(); drop.classList.remove("over"); }));
drop.addEventListener("drop", (event) => {
  if (event.dataTransfer.files.length) { $("f-photo").files = event.dataTransfer.files; }
});
drop.addEventListener("keydown", (event) => { if (event.key === "Enter" || event.key === " ") $("f-photo").click(); });

// ---------------------------------------------------------------- review
function parseCsv(text) {
  const rows = [];
  let row = [], field = "", quoted = false;
  const delimiter = [",", "\t", ";"].map((d) => [d, (text.split("\n")[0].match(new RegExp(d === "\t" ? "\\t" : d, "g")) || []).length])
    .sort((a, b) => b[1] - a[1])[0][0];
  for (let i = 0; i < text.length; i += 1) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') { field += '"'; i += 1; }
      else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === delimiter) { row.push(field); field = ""; }
    else if (c === "\n" || c === "\r") {
      if (c === "\r" && text[i + 1] === "\n") i += 1;
      row.push(field); field = "";
      if (row.some((v) => v.trim())) rows.push(row);
      row = [];
    } else field += c;
  }
  row.push(field);
  if (row.some((v) => v.trim())) rows.push(row);
  const header = (rows.shift() || []).map((h) => h.trim());
  return rows.map((values) => Object.fromEntries(header.map((h, i) => [h, values[i] ?? ""])));
}

function parseRecords(text) {
  const trimmed = text.replace(/^\ufeff/, "").trim();
  if (!trimmed) throw new Error("the file or the pasted text is empty");
  if (trimmed.startsWith("[")) return JSON.parse(trimmed);
  if (trimmed.startsWith("{")) {
    return trimmed.split("\n").filter((l) => l.trim()).map((line, i) => {
      try { return JSON.parse(line); } catch (_) { throw new Error(`line ${i + 1} is not valid JSON`); }
    });
  }
  return parseCsv(trimmed);
}

const FIELDS = {
  id: ["id", "sku", "uniq_id", "product_id", "handle", "code"],
  title: ["title", "name", "product_name", "productdisplayname", "product", "product_title"],
  description: ["description", "product_description", "body (html)", "desc"],
  brand: ["brand", "vendor", "manufacturer", "brands"],
};

function toItems(records) {
  return records.map((record, i) => {
    const lower = Object.fromEntries(Object.entries(record).map(([k, v]) => [k.toLowerCase(), v]));
    const pick = (name) => { const key = FIELDS[name].find((k) => lower[k] !== undefined && lower[k] !== null); return key ? String(lower[key]).trim() : ""; };
    return { id: pick("id") || `row-${i + 1}`, title: pick("title"), description: pick("description"), brand: pick("brand") };
  });
}

$("review-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  clearError();
  const file = $("r-file").files[0];
  const progress = $("r-progress");
  try {
    const text = file ? await file.text() : $("r-text").value;
    const items = toItems(parseRecords(text)).filter((item) => item.title || item.description);
    if (!items.length) throw new Error("no product with a title or a description was found");
    state.queue = [];
    progress.hidden = false;
    progress.max = items.length;
    progress.value = 0;
    for (let start = 0; start < items.length; start += BATCH) {
      const batch = items.slice(start, start + BATCH);
      const body = { items: batch.map(({ title, description, brand }) => ({ title, description, brand })) };
      const data = await api("POST", "categorize", body);
      data.predictions.forEach((prediction, j) => state.queue.push({ item: batch[j], prediction, state: "to review" }));
      progress.value = Math.min(start + BATCH, items.length);
      $("status").textContent = `categorized ${progress.value} of ${items.length}`;
    }
    // the products most likely wrong first; those the service would file itself last
    state.queue.sort((a, b) => (a.prediction.decision === "auto") - (b.prediction.decision === "auto")
      || (a.prediction.confidence ?? 0) - (b.prediction.confidence ?? 0));
    const auto = state.queue.filter((entry) => entry.prediction.decision === "auto").length;
    $("status").textContent = `${auto} of ${state.queue.length} can be filed automatically; ${state.queue.length - auto} to review`;
    state.current = 0;
    renderQueue();
    $("r-download").disabled = false;
    $("r-table").focus();
  } catch (error) {
    showError(error);
  }
});

function renderQueue() {
  const table = $("r-table");
  table.hidden = false;
  table.tabIndex = 0;
  table.tBodies[0].replaceChildren(...state.queue.map((entry, i) => {
    const row = el("tr", { class: [entry.prediction.uncertain ? "uncertain" : "", i === state.current ? "current" : "", entry.state === "accepted" ? "accepted" : ""].join(" ") },
      el("td", { text: String(i + 1) }),
      el("td", { text: entry.item.title || entry.item.description }),
      el("td", { text: entry.prediction.category || "–" }),
      el("td", { text: confidenceText(entry.prediction.confidence, entry.prediction.calibrated) }),
      el("td", { text: entry.prediction.decision === "auto" ? "auto" : "review" }),
      el("td", { text: entry.state }));
    if (i === state.current) row.setAttribute("aria-current", "true");
    row.addEventListener("click", () => { state.current = i; renderQueue(); });
    return row;
  }));
}

async function acceptCurrent() {
  const entry = state.queue[state.current];
  if (!entry || !entry.prediction.category) return;
  try {
    const { id, title, description, brand } = entry.item;
    await api("PUT", `products/${encodeURIComponent(id)}`, { title, description, brand, category: entry.prediction.category });
    entry.state = "accepted";
    state.current = Math.min(state.current + 1, state.queue.length - 1);
    renderQueue();
  } catch (error) { showError(error); }
}

$("r-table").addEventListener("keydown", (event) => {
  if (!state.queue.length) return;
  if (event.key === "j" || event.key === "ArrowDown") state.current = Math.min(state.current + 1, state.queue.length - 1);
  else if (event.key === "k" || event.key === "ArrowUp") state.current = Math.max(state.current - 1, 0);
  else if (event.key === "a") { event.preventDefault(); acceptCurrent(); return; }
  else if (event.key === "s") { state.queue[state.current].state = "skipped"; state.current = Math.min(state.current + 1, state.queue.length - 1); }
  else return;
  event.preventDefault();
  renderQueue();
});

$("r-download").addEventListener("click", () => {
  const quote = (v) => `"${String(v ?? "").replace(/"/g, '""')}"`;
  const lines = [["id", "title", "category", "confidence", "decision", "score", "uncertain", "state"].join(",")];
  for (const { item, prediction, state: s } of state.queue) {
    lines.push([item.id, item.title, prediction.category, (prediction.confidence ?? 0).toFixed(4), prediction.decision,
      prediction.score.toFixed(4), prediction.uncertain, s].map(quote).join(","));
  }
  const link = el("a", { href: URL.createObjectURL(new Blob([lines.join("\n") + "\n"], { type: "text/csv" })), download: "semcat-review.csv" });
  document.body.append(link);
  link.click();
  link.remove();
});

// ---------------------------------------------------------------- browse
$("browse-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  clearError();
  try {
    const data = await api("GET", `categories?level=${$("b-level").value}`);
    $("b-summary").textContent = `${data.categories.length} categories at level ${data.level}; ${data.labeled} of ${data.products} products labeled`;
    $("b-categories").replaceChildren(...data.categories.map((c) => el("li", { text: `${c.category} — ${c.count}` })));
  } catch (error) { showError(error); }
});

$("similar-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  clearError();
  const query = $("s-query").value.trim();
  try {
    const data = await api("POST", "similar", $("s-by-id").checked ? { id: query, k: 10 } : { text: query, k: 10 });
    $("s-results").replaceChildren(...data.results.map((hit) => {
      const photo = el("img", { src: `images/${encodeURIComponent(hit.id)}`, alt: "", loading: "lazy" });
      photo.addEventListener("error", () => photo.remove());
      return el("li", {}, photo, el("span", {}, el("span", { text: hit.product.title || hit.id }), el("br"),
        el("span", { class: "cat", text: `${hit.product.category || "unlabeled"} · ${hit.score.toFixed(3)} · id ${hit.id}` })));
    }));
  } catch (error) { showError(error); }
});

loadReady();
loadOptions().catch(showError);
loadTaxonomy().catch(() => { /* an empty store has no taxonomy yet */ });
