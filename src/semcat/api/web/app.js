// semcat's page: categorize, review, correct, browse. Plain JavaScript over the public
// JSON API (no build step, no CDN); every text from the API is set as text, never HTML.
"use strict";

const KEY_STORE = "semcat-api-key"; // sessionStorage: the key lives as long as the tab
const state = { ready: null, taxonomy: [], counts: new Map(), children: new Map(), labeled: 0, products: 0 };
const JOIN = " > "; // the levels of a category path
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

// the routes that change the catalog or a review session: they need the key when the
// service says writes are keyed (asked before the request, not after a 401)
const WRITE_ROUTES = /^(products|reviews|audit)/;

async function api(method, path, body, retried = false) {
  const headers = {};
  if (method !== "GET" && WRITE_ROUTES.test(path) && state.ready && state.ready.keyed_writes
      && !sessionStorage.getItem(KEY_STORE)) await askKey();
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
    + `${percent(c.expected_auto_share)} of the catalog's own products would be filed without a look `
    + `(${percent(c.out_of_fold_precision)} of those right).`;
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
  for (const [name, field] of [["depth", "f-depth"], ["k", "f-k"], ["k", "s-k"]]) {
    const bounds = options.bounds[name] || {};
    if (bounds.ge !== undefined) $(field).min = bounds.ge;
    if (bounds.le !== undefined) $(field).max = bounds.le;
  }
}

// every level's categories with their product counts: the correction boxes' autocomplete
// and the Browse tree (a node's children are the next level's paths under it)
async function loadTaxonomy() {
  const counts = new Map();
  const children = new Map([["", []]]);
  for (let level = 1; level <= 20; level += 1) {
    const data = await api("GET", `categories?level=${level}`);
    state.labeled = data.labeled;
    state.products = data.products;
    const fresh = data.categories.filter((c) => !counts.has(c.category));
    if (!fresh.length) break;
    for (const c of fresh) {
      counts.set(c.category, c.count);
      const parent = c.category.includes(JOIN) ? c.category.slice(0, c.category.lastIndexOf(JOIN)) : "";
      if (!children.has(parent)) children.set(parent, []);
      children.get(parent).push(c.category);
    }
  }
  for (const list of children.values()) list.sort((a, b) => counts.get(b) - counts.get(a) || a.localeCompare(b));
  state.counts = counts;
  state.children = children;
  state.taxonomy = [...counts.keys()].sort();
  renderTree();
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

// a stored product's photo, only when the service serves photos (/ready's photos: an
// images root is set): no request that can only answer 404
// a stored product's photo, asked for only when the service serves photos and (where the
// page knows the product) it has one: a product without one would be a 404 in the console
function storedPhoto(id, hasImage = true) {
  if (!state.ready || !state.ready.photos || !hasImage) return "";
  const photo = el("img", { src: `images/${encodeURIComponent(id)}`, alt: "", loading: "lazy" });
  photo.addEventListener("error", () => photo.remove());
  return photo;
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
      return el("li", {}, storedPhoto(n.id, n.image), el("span", {}, el("span", { text: n.title || n.id }), el("br"),
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
  $("accept").addEventListener("click", () => storeCorrection(item, prediction.category, prediction));
  correct.addEventListener("submit", (event) => {
    event.preventDefault();
    storeCorrection(item, correctInput.value.trim(), prediction);
  });
}

// the stored product this one is (the same title among the neighbors at cosine 1): a
// correction relabels it under its own id instead of storing a second copy beside it
function storedTwin(item, prediction) {
  const title = (item.title || "").trim().toLowerCase();
  return (prediction && prediction.neighbors || []).find((n) => n.space !== "image" && n.score >= 0.999
    && title && (n.title || "").trim().toLowerCase() === title);
}

async function storeCorrection(item, category, prediction) {
  clearError();
  if (!category) { showError("give a category to store"); return; }
  try {
    const twin = storedTwin(item, prediction);
    const id = twin ? twin.id : productId(item);
    let body = { ...item, category };
    if (twin) {  // its stored text stays as it is: only the label changes
      const stored = await api("GET", `products/${encodeURIComponent(twin.id)}`);
      body = { title: stored.title, description: stored.description, brand: stored.brand,
        attributes: stored.attributes || undefined, category };
    }
    await api("PUT", `products/${encodeURIComponent(id)}`, body);
    const again = await categorizeItem(item, formOptions(), null);
    renderPrediction(again, item, `Stored “${item.title || item.description}” as ${category} (id ${id}). Categorized again: ${again.category}.`);
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
// The queue lives on the server (/reviews): every tab and client sees one session, a
// reload reopens it (its id is in the address), each action is stored before it is shown.
const PAGE = 100; // items per page of the queue
const review = { id: null, items: [], total: 0, current: 0, selected: new Set(), open: null, poll: null, loads: 0 };

function reviewQuery(offset) {
  const query = new URLSearchParams({ limit: String(PAGE), offset: String(offset), order: $("r-order").value });
  if ($("r-state").value) query.set("state", $("r-state").value);
  if ($("r-decision").value) query.set("decision", $("r-decision").value);
  if ($("r-band").value) {
    const [low, high] = $("r-band").value.split("-");
    query.set("min_confidence", low);
    if (Number(high) <= 1) query.set("max_confidence", high);
  }
  if ($("r-category").value.trim()) query.set("category", $("r-category").value.trim());
  return query;
}

function showCounts(session) {
  const s = session.states;
  $("r-counts").textContent = `${session.name}: ${session.categorized} of ${session.total} categorized · `
    + `${s["to review"]} to review · ${s.accepted} accepted · ${s.corrected} corrected · ${s.skipped} skipped · `
    + `${session.auto} can be filed automatically`;
  $("status").textContent = `${session.auto} of ${session.total} can be filed automatically; ${session.total - session.auto} to review`;
  const rejected = $("r-rejected");
  rejected.hidden = !session.rejected.length;
  rejected.querySelector("ul").replaceChildren(...session.rejected.map((r) => el("li", { text: `line ${r.row}: ${r.reason}` })));
}

async function loadSessions(selected) {
  const sessions = await api("GET", "reviews");
  const picker = $("r-sessions");
  picker.replaceChildren(...(sessions.length ? sessions : [null]).map((s) => s
    ? el("option", { value: s.id, text: `${s.name} · ${s.total} products · ${new Date(s.created * 1000).toLocaleString()}` })
    : el("option", { value: "", text: "no session yet" })));
  if (selected) picker.value = selected;
}

async function openSession(id) {
  clearError();
  review.id = id;
  review.selected.clear();
  review.open = null;
  history.replaceState(null, "", `#review=${encodeURIComponent(id)}`);
  $("r-tools").hidden = false;
  await refreshSession();
}

async function refreshSession() {
  clearTimeout(review.poll);
  const session = await api("GET", `reviews/${encodeURIComponent(review.id)}`);
  showCounts(session);
  const progress = $("r-progress");
  progress.hidden = session.status !== "categorizing";
  progress.max = session.total;
  progress.value = session.categorized;
  if (session.status === "failed") showError(`categorizing the session failed: ${session.error}`);
  if (session.status === "categorizing") review.poll = setTimeout(() => refreshSession().catch(showError), 500);
  else await loadItems();
}

async function loadItems(more = false) {
  const offset = more ? review.items.length : 0;
  // only the newest load is drawn: a slower answer to an older query (the refresh after a bulk
  // accept, a filter changed twice) would otherwise redraw the queue under the user, closing a
  // correction box they had opened meanwhile
  const load = ++review.loads;
  const data = await api("GET", `reviews/${encodeURIComponent(review.id)}/items?${reviewQuery(offset)}`);
  if (load !== review.loads) return;
  review.items = more ? review.items.concat(data.items) : data.items;
  review.total = data.total;
  if (!more) review.current = 0;
  $("r-more").hidden = review.items.length >= review.total;
  renderQueue();
}

function stateCell(item) {
  return item.state === "corrected" ? `corrected: ${item.final}` : item.state;
}

function renderQueue() {
  const table = $("r-table");
  const open = openCorrection(table);
  const rows = [];
  review.items.forEach((item, i) => {
    const p = item.prediction || {};
    const select = el("input", { type: "checkbox", "aria-label": `select item ${item.position + 1}` });
    select.checked = review.selected.has(item.position);
    select.addEventListener("change", () => { toggleSelect(item.position, select.checked); });
    const row = el("tr", { class: [p.uncertain ? "uncertain" : "", i === review.current ? "current" : "", item.state].join(" "),
      "data-position": String(item.position) },
      el("td", {}, select),
      el("td", { text: String(item.position + 1) }),
      el("td", { text: item.product.title || item.product.description || item.id }),
      el("td", { class: "category", text: p.category || "–" }),
      el("td", { text: confidenceText(p.confidence, p.calibrated) }),
      el("td", { text: p.decision || "–" }),
      el("td", { class: "state", text: stateCell(item) }));
    if (i === review.current) row.setAttribute("aria-current", "true");
    row.addEventListener("click", (event) => {
      if (event.target.tagName === "INPUT" || event.target.tagName === "BUTTON") return;
      review.current = i; renderQueue(); table.focus();
    });
    rows.push(row);
    if (review.open === item.position) rows.push(detailRow(item));
  });
  table.tBodies[0].replaceChildren(...rows);
  if (open) reopenCorrection(open);
}

// a correction box the user is typing in survives a redraw they did not ask for (the session's
// poll, another load answering): its text, caret and focus come back on the same item
function openCorrection(table) {
  const input = table.querySelector("input.fix");
  if (!input || input.disabled) return null;
  return { position: Number(input.closest("tr").dataset.position), value: input.value,
    start: input.selectionStart, end: input.selectionEnd, focused: document.activeElement === input };
}

function reopenCorrection(open) {
  const i = review.items.findIndex((it) => it.position === open.position);
  if (i < 0) return;
  const input = startCorrection(i, open.value, open.focused);
  if (input && open.focused) input.setSelectionRange(open.start, open.end);
}

function detailRow(item) {
  const p = item.prediction || {};
  const levels = (p.levels || []).map((lv) => `${lv.level}. ${lv.category.split(" > ").pop()} ${confidenceText(lv.confidence ?? lv.score, p.calibrated)}`).join(" · ");
  const alternatives = (p.top || []).slice(1, 5).map((c, n) => {
    const button = el("button", { type: "button", class: "alt secondary", text: `${n + 1}. ${c.category}` });
    button.addEventListener("click", () => act(item, "correct", c.category));
    return button;
  });
  const neighbors = (p.neighbors || []).slice(0, 5).map((n) => `${n.title || n.id} (${n.category || "unlabeled"}, ${n.score.toFixed(2)})`).join("; ");
  return el("tr", { class: "detail" }, el("td", { colspan: "7" },
    el("p", { text: item.product.description || "(no description)" }),
    el("p", { text: `Per level: ${levels || "–"}` }),
    p.decision_reason ? el("p", { text: `To review: ${p.decision_reason}.` }) : "",
    el("div", {}, el("span", { text: "Alternatives: " }), ...alternatives),
    el("p", { class: "hint", text: `Neighbors that voted: ${neighbors || "–"}` })));
}

function toggleSelect(position, on) {
  if (on) review.selected.add(position); else review.selected.delete(position);
}

function replaceItem(updated) {
  const i = review.items.findIndex((it) => it.position === updated.position);
  if (i >= 0) review.items[i] = updated;
}

// how long each review action took, from the key or click to the row drawn (the browser
// benchmark reads them)
function timed(kind, start) { window.semcatTimings.push({ review: kind, ms: performance.now() - start }); }

async function act(item, action, category) {
  const start = performance.now();
  clearError();
  try {
    const body = { action, version: item.version };
    if (category) body.category = category;
    const updated = await api("POST", `reviews/${encodeURIComponent(review.id)}/items/${item.position}`, body);
    replaceItem(updated);
    review.current = Math.min(review.current + 1, review.items.length - 1);
    renderQueue();
    timed(action, start);
    keepFocus();
    showCounts(await api("GET", `reviews/${encodeURIComponent(review.id)}`));
  } catch (error) {
    showError(error);
    if (/version/.test(error.message)) await loadItems();  // another tab acted first: show what it did
    keepFocus();
  }
}

// after an action (and a key prompt) the keys work again at once; a correction box the
// user opened meanwhile keeps its focus
function keepFocus() {
  const active = document.activeElement;
  if (!active || active === document.body || !$("view-review").contains(active) || active.tagName === "BUTTON") $("r-table").focus();
}

async function bulk(body) {
  const start = performance.now();
  clearError();
  try {
    const done = await api("POST", `reviews/${encodeURIComponent(review.id)}/accept`, body);
    $("r-counts").textContent = `accepted ${done.accepted}`;
    review.selected.clear();
    await refreshSession();
    timed("bulk accept", start);
  } catch (error) { showError(error); }
  keepFocus();
}

async function undo() {
  const start = performance.now();
  clearError();
  try {
    const item = await api("POST", `reviews/${encodeURIComponent(review.id)}/undo`);
    replaceItem(item);
    const i = review.items.findIndex((it) => it.position === item.position);
    if (i >= 0) review.current = i;
    renderQueue();
    timed("undo", start);
    keepFocus();
    showCounts(await api("GET", `reviews/${encodeURIComponent(review.id)}`));
  } catch (error) { showError(error); keepFocus(); }
}

function startCorrection(i, preset, focus = true) {
  const item = review.items[i];
  const row = $("r-table").querySelector(`tr[data-position="${item.position}"]`);
  if (!row) return null;
  const cell = row.querySelector("td.category");
  const input = el("input", { type: "text", class: "fix", list: "taxonomy", autocomplete: "off",
    "aria-label": `right category for item ${item.position + 1}` });
  input.value = preset ?? ((item.prediction && item.prediction.category) || "");
  cell.replaceChildren(input);
  if (focus) { input.focus(); input.select(); }
  input.addEventListener("keydown", (event) => {
    event.stopPropagation();
    if (event.key === "Enter") {
      event.preventDefault();
      if (input.disabled) return;
      input.disabled = true;  // sent: a second Enter does not send it twice, a redraw closes it
      act(item, "correct", input.value.trim()).finally(() => {
        if (input.isConnected) { input.disabled = false; input.focus(); }  // refused: fix the text
      });
    } else if (event.key === "Escape") { input.remove(); renderQueue(); $("r-table").focus(); }
  });
  return input;
}

$("review-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  clearError();
  const file = $("r-file").files[0];
  const text = $("r-text").value;
  try {
    let upload = file;
    if (!upload) {
      if (!text.trim()) throw new Error("choose a file or paste products first");
      const name = /^\s*[[{]/.test(text) ? "pasted.jsonl" : "pasted.csv";
      upload = new File([text], name, { type: "text/plain" });
    }
    const form = new FormData();
    form.append("file", upload);
    const session = await api("POST", "reviews", form);
    await loadSessions(session.id);
    await openSession(session.id);
  } catch (error) { showError(error); }
});

$("r-open").addEventListener("submit", (event) => {
  event.preventDefault();
  if ($("r-sessions").value) openSession($("r-sessions").value).catch(showError);
});
$("r-filters").addEventListener("change", () => {
  const start = performance.now();
  loadItems().then(() => timed("filter", start)).catch(showError);
});
$("r-filters").addEventListener("submit", (event) => { event.preventDefault(); loadItems().catch(showError); });
$("r-more").addEventListener("click", () => loadItems(true).catch(showError));
$("r-accept-auto").addEventListener("click", () => bulk({ auto: true }));
$("r-accept-above").addEventListener("click", () => bulk({ min_confidence: Number($("r-min").value) }));
$("r-accept-selected").addEventListener("click", () => {
  if (!review.selected.size) { showError("select items first (x, or their checkboxes)"); return; }
  bulk({ positions: [...review.selected] });
});
$("r-undo").addEventListener("click", undo);
$("r-download").addEventListener("click", () => {
  const link = el("a", { href: `reviews/${encodeURIComponent(review.id)}/export`, download: `review-${review.id}.csv` });
  document.body.append(link);
  link.click();
  link.remove();
});

$("r-table").addEventListener("keydown", (event) => {
  if (event.target !== $("r-table") || event.ctrlKey || event.metaKey || event.altKey) return;
  const item = review.items[review.current];
  if (event.key === "?") { $("r-help").hidden = !$("r-help").hidden; event.preventDefault(); return; }
  if (!item) return;
  if (event.key === "j" || event.key === "ArrowDown") review.current = Math.min(review.current + 1, review.items.length - 1);
  else if (event.key === "k" || event.key === "ArrowUp") review.current = Math.max(review.current - 1, 0);
  else if (event.key === "a") { event.preventDefault(); act(item, "accept"); return; }
  else if (event.key === "s") { event.preventDefault(); act(item, "skip"); return; }
  else if (event.key === "u") { event.preventDefault(); undo(); return; }
  else if (event.key === "c") { event.preventDefault(); startCorrection(review.current); return; }
  else if (/^[1-4]$/.test(event.key)) {
    const alternative = ((item.prediction || {}).top || [])[Number(event.key)];
    if (alternative) { event.preventDefault(); act(item, "correct", alternative.category); }
    return;
  } else if (event.key === "x") toggleSelect(item.position, !review.selected.has(item.position));
  else if (event.key === "o" || event.key === "Enter") review.open = review.open === item.position ? null : item.position;
  else return;
  event.preventDefault();
  renderQueue();
  const current = $("r-table").querySelector("tr.current");
  if (current && current.scrollIntoView) current.scrollIntoView({ block: "nearest" });
});

async function openFromAddress() {
  const match = /review=([^&]+)/.exec(location.hash);
  await loadSessions(match ? decodeURIComponent(match[1]) : undefined);
  if (match) {
    showView("review");
    await openSession(decodeURIComponent(match[1]));
  }
}

// ---------------------------------------------------------------- browse
const browse = { category: null, next: null };
const MAX_MATCHES = 300; // categories a search shows (with their parents)

function leafName(path) { return path.includes(JOIN) ? path.slice(path.lastIndexOf(JOIN) + JOIN.length) : path; }

function nodeButton(path, query) {
  const name = leafName(path);
  const label = el("span");
  const at = query ? name.toLowerCase().indexOf(query) : -1;
  if (at >= 0) label.append(name.slice(0, at), el("mark", { text: name.slice(at, at + query.length) }), name.slice(at + query.length));
  else label.textContent = name;
  const button = el("button", { type: "button", class: "node", title: path, "data-path": path }, label,
    el("span", { class: "count", text: ` ${state.counts.get(path)}` }));
  if (browse.category === path) button.setAttribute("aria-current", "true");
  button.addEventListener("click", () => openCategory(path).catch(showError));
  return button;
}

// one node; its children are drawn when it is first opened (a taxonomy of thousands of
// categories draws only what is shown), or all at once for a search's matches
function treeNode(path, keep, query, opened) {
  const kids = (state.children.get(path) || []).filter((c) => !keep || keep.has(c));
  if (!kids.length) return el("li", { class: "leaf" }, nodeButton(path, query));
  const list = el("ul");
  const details = el("details", {}, el("summary", {}, nodeButton(path, query)), list);
  const fill = () => { if (!list.childElementCount) list.append(...kids.map((c) => treeNode(c, keep, query, opened))); };
  if (keep || opened.has(path)) { details.open = true; fill(); }
  details.addEventListener("toggle", () => { if (details.open) fill(); });
  return el("li", {}, details);
}

function renderTree() {
  const query = $("b-search").value.trim().toLowerCase();
  // a redraw (after a relabel, a search cleared) keeps the branches that were open
  const opened = new Set([...$("b-tree").querySelectorAll("details[open] > summary > button.node")]
    .map((b) => b.dataset.path));
  let keep = null;
  let roots = state.children.get("") || [];
  if (query) {
    const matches = state.taxonomy.filter((p) => leafName(p).toLowerCase().includes(query)).slice(0, MAX_MATCHES);
    keep = new Set();
    for (const path of matches) {
      const parts = path.split(JOIN);
      for (let i = 1; i <= parts.length; i += 1) keep.add(parts.slice(0, i).join(JOIN));
    }
    roots = roots.filter((r) => keep.has(r));
    $("b-summary").textContent = matches.length >= MAX_MATCHES
      ? `the first ${MAX_MATCHES} categories named like “${query}”; type more to narrow`
      : `${matches.length} categor${matches.length === 1 ? "y" : "ies"} named like “${query}”`;
  } else {
    $("b-summary").textContent = `${state.counts.size} categories; ${state.labeled} of ${state.products} products labeled`;
  }
  $("b-tree").replaceChildren(...roots.map((r) => treeNode(r, keep, query, query ? new Set() : opened)));
}
$("b-search").addEventListener("input", renderTree);

async function openCategory(path) {
  browse.category = path;
  browse.next = null;
  document.querySelectorAll("#b-tree button.node").forEach((b) => {
    if (b.dataset.path === path) b.setAttribute("aria-current", "true"); else b.removeAttribute("aria-current");
  });
  $("b-products").tBodies[0].replaceChildren();
  await moreProducts();
}

async function moreProducts() {
  clearError();
  const path = browse.category;
  const query = new URLSearchParams({ category: path, limit: "50" });
  if (browse.next) query.set("cursor", browse.next);
  const data = await api("GET", `products?${query}`);
  if (browse.category !== path) return; // another category was opened meanwhile
  browse.next = data.next;
  $("b-title").textContent = `${path} — ${data.total} product${data.total === 1 ? "" : "s"}`;
  $("b-products").hidden = false;
  $("b-products").tBodies[0].append(...data.products.map(productRow));
  $("b-more").hidden = !data.next;
}
$("b-more").addEventListener("click", () => moreProducts().catch(showError));

function productRow(product) {
  const row = el("tr", { "data-id": product.id });
  const about = el("td", { title: product.description || "" }, storedPhoto(product.id, Boolean(product.image)),
    el("span", { text: product.title || product.id }), el("br"), el("span", { class: "hint", text: `id ${product.id}` }));
  const category = el("td", { text: product.category || "unlabeled" });
  const relabel = el("button", { type: "button", class: "secondary" }, "Relabel");
  const similar = el("button", { type: "button", class: "secondary" }, "Similar");
  relabel.addEventListener("click", () => editLabel(product, category));
  similar.addEventListener("click", () => openSimilar(product.id).catch(showError));
  row.append(about, category, el("td", { class: "acts" }, relabel, similar));
  return row;
}

// relabel in place: the product keeps its id, text and photo; the change is in its history
function editLabel(product, cell) {
  const input = el("input", { type: "text", class: "fix", list: "taxonomy", autocomplete: "off",
    "aria-label": `New category of ${product.title || product.id}` });
  input.value = product.category || "";
  const save = el("button", { type: "button" }, "Save");
  const cancel = el("button", { type: "button", class: "secondary" }, "Cancel");
  const done = () => cell.replaceChildren(product.category || "unlabeled");
  const submit = async () => {
    const category = input.value.trim();
    try {
      clearError();
      await api("PATCH", `products/${encodeURIComponent(product.id)}`, { category: category || null });
      const was = product.category;
      product.category = category || null;
      done();
      cell.append(el("br"), el("span", { class: "hint moved", text: `relabeled (was ${was || "unlabeled"})` }));
      await loadTaxonomy();
    } catch (error) { showError(error); }
  };
  save.addEventListener("click", submit);
  cancel.addEventListener("click", done);
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter") { event.preventDefault(); submit(); }
    if (event.key === "Escape") done();
  });
  cell.replaceChildren(input, save, cancel);
  input.focus();
}

// the Similar form below, filled for a stored product (k and the category filter stay the user's)
async function openSimilar(id) {
  $("s-query").value = id;
  $("s-by-id").checked = true;
  $("similar-form").requestSubmit();
  $("similar-form").scrollIntoView({ block: "start" });
}

$("similar-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  clearError();
  const query = $("s-query").value.trim();
  try {
    const body = $("s-by-id").checked ? { id: query } : { text: query };
    body.k = Number($("s-k").value) || 10;
    if ($("s-category").value.trim()) body.category = $("s-category").value.trim();
    const data = await api("POST", "similar", body);
    $("s-results").replaceChildren(...data.results.map((hit) => {
      return el("li", {}, storedPhoto(hit.id, Boolean(hit.product.image)), el("span", {}, el("span", { text: hit.product.title || hit.id }), el("br"),
        el("span", { class: "cat", text: `${hit.product.category || "unlabeled"} · ${hit.score.toFixed(3)} · id ${hit.id}` })));
    }));
  } catch (error) { showError(error); }
});

// ---------------------------------------------------------------- audit
const audit = { offset: 0, total: 0, polling: null };

function auditLine(a) {
  if (!a || a.state === "never run") return "No audit yet: run one to list the labels that are probably wrong.";
  const when = a.finished ? new Date(a.finished * 1000).toLocaleString() : "";
  const head = a.state === "running" ? "An audit is running; " : a.state === "failed" ? `The last audit failed (${a.message}); ` : "";
  if (a.suspects == null) return `${head}no finished audit yet.`;
  return `${head}${a.suspects} suspected label issues among ${a.products} labeled products, `
    + `${a.conflicts} groups of near-duplicates under different labels (audited ${when} in ${Math.round(a.seconds)} s)`
    + (a.stale ? "; the store changed since." : ".");
}

async function loadAudit(reset = true) {
  clearError();
  if (reset) { audit.offset = 0; $("a-table").tBodies[0].replaceChildren(); }
  const query = new URLSearchParams({ offset: String(audit.offset), limit: "50" });
  if ($("a-category").value.trim()) query.set("category", $("a-category").value.trim());
  if ($("a-level").value) query.set("level", $("a-level").value);
  const data = await api("GET", `audit?${query}`);
  $("a-status").textContent = auditLine(data.audit);
  $("a-mains").replaceChildren(...Object.entries(data.audit.per_main || {}).map(([main, count]) => {
    const chip = el("button", { type: "button", class: "secondary" }, `${main} · ${count}`);
    chip.addEventListener("click", () => { $("a-category").value = main; loadAudit().catch(showError); });
    return chip;
  }));
  audit.total = data.total;
  audit.offset += data.items.length;
  $("a-table").hidden = !data.items.length && reset;
  $("a-table").tBodies[0].append(...data.items.flatMap(suspectRows));
  $("a-more").hidden = audit.offset >= audit.total;
  const running = data.audit.state === "running";
  $("a-run").disabled = running;
  if (running && !audit.polling) audit.polling = setTimeout(() => { audit.polling = null; loadAudit().catch(showError); }, 2000);
  if (reset && data.audit.suspects != null) await loadConflicts(); // none before a finished audit
}

function suspectRows(item) {
  const row = el("tr", { "data-id": item.id });
  const evidence = el("tr", { class: "evidence", hidden: "" }, el("td", { colspan: "4" },
    el("ol", { class: "neighbors" }, ...item.neighbors.map((n) => el("li", {}, el("span", {},
      el("span", { text: n.title || n.id }), el("br"),
      el("span", { class: "cat", text: `${n.category || "unlabeled"} · ${n.score.toFixed(3)} · id ${n.id}` })))))));
  // the audit judged the label down to the category depth; deeper levels (product names) are not its business
  const unchanged = item.current === item.label || (item.current || "").startsWith(`${item.label}${JOIN}`);
  const label = el("td", { text: unchanged ? item.label : `${item.current || "deleted"} (was ${item.label})` });
  const suggested = el("td", {}, el("span", { text: item.suggested || "–" }), el("br"),
    el("span", { class: "share", text: `parts at level ${item.level}`
      + (item.label_confidence == null ? `; its label's share ${item.label_score < 0.01 ? "under 1%" : percent(item.label_score)}`
        : `; label right: ${percent(item.label_confidence)}`)
      + (item.suggested_confidence == null ? "" : `, suggestion right: ${percent(item.suggested_confidence)}`)
      + (item.nearest_same_label == null ? "" : `; closest product under its label ${item.nearest_same_label.toFixed(2)}`) }));
  const use = el("button", { type: "button" }, "Use suggestion");
  const fix = el("button", { type: "button", class: "secondary" }, "Correct…");
  const keep = el("button", { type: "button", class: "secondary" }, "Keep");
  const why = el("button", { type: "button", class: "secondary", "aria-expanded": "false" }, "Evidence");
  const relabel = async (category) => {
    await api("PATCH", `products/${encodeURIComponent(item.id)}`, { category });
    item.current = category;
    label.textContent = `${category} (was ${item.label})`;
    row.classList.add("done");
  };
  use.disabled = !item.suggested;
  use.addEventListener("click", () => relabel(item.suggested).catch(showError));
  fix.addEventListener("click", () => {
    const input = el("input", { type: "text", class: "fix", list: "taxonomy", autocomplete: "off",
      "aria-label": `Right category of ${item.title || item.id}` });
    input.value = item.suggested || item.label;
    input.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && input.value.trim()) { event.preventDefault(); relabel(input.value.trim()).catch(showError); }
    });
    label.replaceChildren(input);
    input.focus();
  });
  keep.addEventListener("click", async () => {
    try {
      await api("POST", `audit/${encodeURIComponent(item.id)}/keep`);
      row.classList.add("done");
      label.append(el("br"), el("span", { class: "share", text: "kept as it is" }));
    } catch (error) { showError(error); }
  });
  why.addEventListener("click", () => {
    evidence.hidden = !evidence.hidden;
    why.setAttribute("aria-expanded", String(!evidence.hidden));
  });
  row.append(el("td", {}, el("span", { text: item.title || item.id }), el("br"), el("span", { class: "hint", text: `id ${item.id}` })),
    label, suggested, el("td", { class: "acts" }, use, fix, keep, why));
  return [row, evidence];
}

async function loadConflicts() {
  try {
    const data = await api("GET", "audit/conflicts?limit=20");
    $("a-conflicts").replaceChildren(...data.groups.map((g) => el("li", {}, el("span", {},
      el("span", { text: `${g.size} products, ${g.labels} labels (cosine ≥ ${g.cosine.toFixed(3)})` }), el("br"),
      el("span", { class: "cat", text: g.members.map((m) => `${m.title || m.id} → ${m.category}`).join(" · ") })))));
  } catch (_) { $("a-conflicts").replaceChildren(); /* no finished audit yet */ }
}

$("a-run").addEventListener("click", async () => {
  try {
    clearError();
    await api("POST", "audit");
    await loadAudit();
  } catch (error) { showError(error); }
});
$("a-filter").addEventListener("submit", (event) => { event.preventDefault(); loadAudit().catch(showError); });
$("a-more").addEventListener("click", () => loadAudit(false).catch(showError));
document.querySelector('.tab[data-view="audit"]').addEventListener("click", () => loadAudit().catch(showError));

loadReady();
openFromAddress().catch(showError);
loadOptions().catch(showError);
loadTaxonomy().catch(() => { /* an empty store has no taxonomy yet */ });
