// The Strata web viewer: log in, find studies, see series thumbnails, scroll through a series whose images
// arrive coarse first and sharpen level by level (the server renders each level), window/level by dragging.
// Every request carries a bearer token from /auth/token; a refusal shows the server's reason.
"use strict";

const state = { token: null, study: null, series: null, instances: [], index: 0, window: null, generation: 0 };
const $ = (id) => document.getElementById(id);
const tag = (json, key) => { const v = json[key] && json[key].Value; return v && v.length ? v[0] : ""; };
const personName = (value) => (value && value.Alphabetic) || value || "";

function showMessage(text) {
  const box = $("message");
  box.textContent = text;
  box.hidden = !text;
}

async function api(path, options = {}) {
  const headers = Object.assign({}, options.headers || {});
  if (state.token) headers.Authorization = "Bearer " + state.token;
  // credentials: "omit": the token travels in the Authorization header; with the browser's own credentials
  // mode a 401 (which carries WWW-Authenticate: Basic) would open the browser's login dialog over the page.
  const response = await fetch(path, Object.assign({}, options, { headers, credentials: "omit" }));
  if (!response.ok) {
    let reason = response.status + " " + response.statusText;
    try { const body = await response.json(); if (body.error && body.error.message) reason = body.error.message; } catch (e) { /* not JSON */ }
    const error = new Error(reason);
    error.status = response.status;
    throw error;
  }
  return response;
}

$("login-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  try {
    const basic = btoa($("user").value + ":" + $("password").value);
    const response = await api("/auth/token", { method: "POST", headers: { Authorization: "Basic " + basic } });
    state.token = (await response.json()).access_token;
    $("password").value = "";
    $("who").textContent = $("user").value;
    $("login").hidden = true;
    $("app").hidden = false;
    showMessage("");
    await search();
  } catch (error) {
    showMessage("Login failed: " + error.message);
  }
});

$("search").addEventListener("submit", (event) => { event.preventDefault(); search(); });

async function search() {
  const query = new URLSearchParams();
  if ($("patient-name").value) query.set("PatientName", $("patient-name").value);
  if ($("patient-id").value) query.set("PatientID", $("patient-id").value);
  if ($("study-date").value) query.set("StudyDate", $("study-date").value);
  ["StudyDescription", "ModalitiesInStudy"].forEach((field) => query.append("includefield", field));
  try {
    const studies = await (await api("/dicom-web/studies?" + query, { headers: { Accept: "application/dicom+json" } })).json();
    const body = $("studies").querySelector("tbody");
    body.innerHTML = "";
    for (const study of studies) {
      const row = document.createElement("tr");
      row.dataset.study = tag(study, "0020000D");
      for (const text of [tag(study, "00080020"), personName(tag(study, "00100010")), tag(study, "00100020"),
                          ((study["00080061"] || {}).Value || []).join(","), tag(study, "00081030")]) {
        const cell = document.createElement("td");
        cell.textContent = text;
        row.appendChild(cell);
      }
      row.addEventListener("click", () => openStudy(row.dataset.study, row.cells[1].textContent + " " + row.cells[4].textContent));
      body.appendChild(row);
    }
  } catch (error) {
    showMessage(error.message);
  }
}

async function openStudy(study, title) {
  state.study = study;
  showMessage("");
  $("study").hidden = false;
  $("image-view").hidden = true;
  $("study-title").textContent = title;
  $("report").hidden = true;
  try {
    const status = await (await api(`/api/v1/studies/${study}/status`)).json();
    $("study-status").textContent = `${status.status} (${status.name})`;
    // The report is released with the study's images: a caller refused them (403) is refused it too.
    const diagnostic = await (await api(`/api/v1/studies/${study}/diagnostic`)).json();
    $("report").hidden = !diagnostic.report;
    $("report-text").textContent = diagnostic.report ? diagnostic.report.text : "";
  } catch (error) {
    if (error.status !== 403) showMessage(error.message);
  }
  const container = $("series");
  container.innerHTML = "";
  let series = [];
  try {
    series = await (await api(`/dicom-web/studies/${study}/series`, { headers: { Accept: "application/dicom+json" } })).json();
  } catch (error) {
    return showMessage(error.message);
  }
  for (const entry of series) {
    const uid = tag(entry, "0020000E");
    const tile = document.createElement("div");
    tile.className = "series";
    tile.dataset.series = uid;
    const caption = document.createElement("div");
    caption.textContent = `${tag(entry, "00080060")} ${tag(entry, "0008103E") || ""}`.trim();
    tile.appendChild(caption);
    container.appendChild(tile);
    try {
      const image = await (await api(`/dicom-web/studies/${study}/series/${uid}/thumbnail`, { headers: { Accept: "image/png" } })).blob();
      const img = document.createElement("img");
      img.alt = "series thumbnail";
      img.src = URL.createObjectURL(image);
      tile.insertBefore(img, caption);
      tile.addEventListener("click", () => openSeries(uid));
    } catch (error) {
      const refused = document.createElement("div");
      refused.className = "refused";
      refused.textContent = error.message;
      tile.insertBefore(refused, caption);
      showMessage(error.message);
    }
  }
}

async function openSeries(series) {
  state.series = series;
  state.window = null;
  try {
    const instances = await (await api(`/dicom-web/studies/${state.study}/series/${series}/instances`,
                                       { headers: { Accept: "application/dicom+json" } })).json();
    state.instances = instances.map((json) => ({ sop: tag(json, "00080018"), number: Number(tag(json, "00200013")) || 0 }))
      .sort((a, b) => a.number - b.number);
    state.index = Math.floor(state.instances.length / 2);
    $("image-view").hidden = false;
    await show();
  } catch (error) {
    showMessage(error.message);
  }
}

// Draws the current image coarse first, then at each finer size; a newer request cancels the older one.
// While it loads the canvas says aria-busy="true"; data-level is the longest side of the picture last drawn
// (the image's own size once the server has no larger one to send).
async function show() {
  const generation = ++state.generation;
  const instance = state.instances[state.index];
  if (!instance) return;
  $("image-info").textContent = `image ${state.index + 1} of ${state.instances.length}`;
  const canvas = $("image");
  canvas.setAttribute("aria-busy", "true");
  const done = () => { if (generation === state.generation) canvas.setAttribute("aria-busy", "false"); };
  const base = `/dicom-web/studies/${state.study}/series/${state.series}/instances/${instance.sop}/rendered`;
  for (const size of [64, 128, 256, 512]) {
    const query = new URLSearchParams({ viewport: `${size},${size}` });
    if (state.window) query.set("window", `${Math.round(state.window.center)},${Math.round(state.window.width)}`);
    let blob;
    try {
      blob = await (await api(`${base}?${query}`, { headers: { Accept: "image/png" } })).blob();
    } catch (error) {
      if (generation === state.generation) showMessage(error.message);
      return done();
    }
    if (generation !== state.generation) return;
    const bitmap = await createImageBitmap(blob);
    if (generation !== state.generation) return;
    const context = canvas.getContext("2d");
    context.imageSmoothingEnabled = true;
    context.clearRect(0, 0, canvas.width, canvas.height);
    const scale = Math.min(canvas.width / bitmap.width, canvas.height / bitmap.height);
    context.drawImage(bitmap, 0, 0, bitmap.width * scale, bitmap.height * scale);
    canvas.dataset.level = String(Math.max(bitmap.width, bitmap.height));
    canvas.dataset.instance = instance.sop;
    if (bitmap.width < size && bitmap.height < size) break;  // the image is no larger than this
  }
  done();
}

function step(delta) {
  const next = Math.max(0, Math.min(state.instances.length - 1, state.index + delta));
  if (next !== state.index) { state.index = next; show(); }
}

$("image").addEventListener("wheel", (event) => { event.preventDefault(); step(event.deltaY > 0 ? 1 : -1); });
document.addEventListener("keydown", (event) => {
  if ($("image-view").hidden) return;
  if (event.key === "ArrowDown" || event.key === "ArrowRight") step(1);
  if (event.key === "ArrowUp" || event.key === "ArrowLeft") step(-1);
});

// Window/level by dragging: horizontal changes the width, vertical the center.
let drag = null;
$("image").addEventListener("mousedown", (event) => {
  drag = { x: event.clientX, y: event.clientY, start: state.window || { center: 40, width: 400 } };
});
document.addEventListener("mouseup", () => { if (drag) { drag = null; show(); } });
document.addEventListener("mousemove", (event) => {
  if (!drag) return;
  state.window = { center: drag.start.center + (event.clientY - drag.y) * 2, width: Math.max(1, drag.start.width + (event.clientX - drag.x) * 4) };
});
