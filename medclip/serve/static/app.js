// medclip browser app: plain JS, no build step. Talks to /v1/classify and /v1/explain of the same server.
"use strict";
const $ = (id) => document.getElementById(id);
let classSets = [];

function headers() {
  const key = $("apikey").value;
  return key ? { "X-API-Key": key } : {};
}

function say(text, kind) {
  const m = $("message");
  m.textContent = text;
  m.className = kind || "";
}

async function getJSON(url) {
  const r = await fetch(url, { headers: headers() });
  const body = await r.json();
  if (!r.ok) throw new Error(body.error ? body.error.message : r.statusText);
  return body;
}

function fillModalities() {
  const cs = classSets.find((c) => c.id === $("classset").value);
  const sel = $("modality");
  sel.innerHTML = '<option value="">all</option>';
  if (!cs) return;
  [...new Set(cs.classes.map((c) => c.modality))].forEach((m) => sel.add(new Option(m, m)));
}

async function init() {
  try {
    const models = await getJSON("/v1/models");
    models.models.forEach((m) => $("model").add(new Option(m.id, m.id)));
    $("model-line").textContent = `models: ${models.models.map((m) => m.id).join(", ")}`;
    const sets = await getJSON("/v1/classsets");
    classSets = sets.class_sets;
    classSets.forEach((c) => $("classset").add(new Option(`${c.id} (${c.classes.length})`, c.id)));
    sets.windows.forEach((w) => $("window").add(new Option(w, w)));
    if (classSets.some((c) => c.id === "demo/demo")) $("classset").value = "demo/demo";
    fillModalities();
  } catch (e) {
    say(`Could not reach the server: ${e.message}`, "error");
  }
}

function form(extra) {
  const fd = new FormData();
  fd.append("file", $("file").files[0]);
  fd.append("model", $("model").value);
  fd.append("window", $("window").value);
  if ($("classset").value) {
    fd.append("class_set", $("classset").value);
    if ($("modality").value) fd.append("modality", $("modality").value);
  } else {
    fd.append("classes", $("classes").value);
  }
  Object.entries(extra).forEach(([k, v]) => fd.append(k, v));
  return fd;
}

async function post(url, fd) {
  const r = await fetch(url, { method: "POST", body: fd, headers: headers() });
  let body;
  try {
    body = await r.json();
  } catch (e) {
    throw new Error(`server answered ${r.status} without JSON`);
  }
  if (!r.ok) throw new Error(body.error ? body.error.message : `HTTP ${r.status}`);
  return body;
}

function loadImage(src) {
  return new Promise((resolve, reject) => {
    const img = new Image();
    img.onload = () => resolve(img);
    img.onerror = reject;
    img.src = src;
  });
}

function drawBars(res) {
  const bars = $("bars");
  bars.innerHTML = "";
  const sorted = [...res.classes].sort((a, b) => b.probability - a.probability);
  sorted.forEach((c, i) => {
    const row = document.createElement("div");
    row.className = "bar" + (i === 0 ? " top" : "");
    row.dataset.name = c.name;
    row.dataset.probability = c.probability;
    const name = document.createElement("span");
    name.className = "name";
    name.textContent = c.name;
    name.title = c.name;
    const track = document.createElement("span");
    track.className = "track";
    const fill = document.createElement("span");
    fill.className = "fill";
    fill.style.display = "block";
    fill.style.width = `${(100 * c.probability).toFixed(1)}%`;
    track.appendChild(fill);
    const pct = document.createElement("span");
    pct.textContent = `${(100 * c.probability).toFixed(1)}%`;
    row.append(name, track, pct);
    bars.appendChild(row);
  });
  const cal = res.calibration.calibrated
    ? `calibrated (temperature ${res.calibration.temperature.toFixed(3)})`
    : `not calibrated: ${res.calibration.reason}`;
  const img = res.image;
  const parts = [`model ${res.model}`, `${img.format} ${img.size[0]}×${img.size[1]}`, cal, `${res.timing_ms.total.toFixed(0)} ms`];
  if (img.window) parts.splice(2, 0, `window ${img.window}`);
  $("meta").textContent = parts.join(" · ");
}

let heatmap = null;
function drawOverlay() {
  const ctx = $("overlay").getContext("2d");
  ctx.clearRect(0, 0, 256, 256);
  if (!heatmap) return;
  ctx.globalAlpha = $("opacity").value / 100;
  ctx.imageSmoothingEnabled = true;
  ctx.drawImage(heatmap, 0, 0, 256, 256);
  ctx.globalAlpha = 1;
  $("overlay").dataset.drawn = "1";
}

async function run() {
  if (!$("file").files.length) return say("Choose an image or DICOM file first.", "error");
  $("overlay").dataset.drawn = "0";
  $("bars").innerHTML = "";
  $("explained").textContent = "";
  heatmap = null;
  drawOverlay();
  say("Working…");
  try {
    const res = await post("/v1/classify", form({ return_image: "1", top_k: "3" }));
    const preview = await loadImage(res.preview_png);
    $("image").getContext("2d").drawImage(preview, 0, 0, 256, 256);
    drawBars(res);
    const top = res.top_k[0].name;
    say(`Top class: ${top}`, "ok");
    $("message").dataset.top = top;
    const ex = await post("/v1/explain", form({ target: top }));
    heatmap = await loadImage(ex.heatmap_png);
    drawOverlay();
    $("explained").textContent = `Saliency (${ex.method}) for “${top}”`;
  } catch (e) {
    say(`Error: ${e.message}`, "error");
  }
}

$("classset").addEventListener("change", fillModalities);
$("opacity").addEventListener("input", drawOverlay);
$("run").addEventListener("click", run);
init();
