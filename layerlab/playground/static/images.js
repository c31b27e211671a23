// layerlab playground, the Images page: the controls, a WebSocket to the server's torch session, and the
// views of each frame (curves, confusion matrix, misclassified digits, activation maps, filters, gradient
// norms), plus a canvas to draw a digit on. Frames carry only what changed: the page keeps the rest.
"use strict";

const $ = (id) => document.getElementById(id);
let settings = {};
let presets = {};
let rev = 0;
let playing = false;
let pending = null;
let framesSinceDraw = 0;
let curve = []; // every point of the learning curves so far
let digits = {}; // test digits' pixels, by index (each sent once)
let drawnAt = null; // when the last stroke ended (performance.now())
let picked = 0; // the test image shown when the drawing is cleared
let sizes = { train: 0, val: 0, test: 0 }; // the data set's splits
// Figures the tests and the benchmark read.
window.imageStats = { frames: 0, classified: 0, lastClassifyMs: null, accuracy: [], playedAt: null, playing: false };

function decode(text) {
  const raw = atob(text), bytes = new Uint8Array(raw.length);
  for (let i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
  return bytes;
}
function showMessage(text) {
  $("message").hidden = !text;
  $("message").textContent = text || "";
}

// ---- connection ---------------------------------------------------------------------------------------

function sendSettings(changes) {
  rev += 1;
  send({ type: "config", settings: changes, rev });
}
function connect() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  socket = new WebSocket(`${scheme}://${location.host}/ws/images`);
  socket.onclose = socketClosed;
  socket.onmessage = (event) => {
    const message = JSON.parse(event.data);
    if (message.type === "frame") {
      framesSinceDraw += 1;
      pending = pending ? merged(pending, message) : message;
      requestAnimationFrame(drawPending);
    } else if (message.type === "classified") {
      if (drawnAt !== null) {
        window.imageStats.lastClassifyMs = performance.now() - drawnAt;
        $("latency").textContent = `classified in ${Math.round(window.imageStats.lastClassifyMs)} ms`;
        drawnAt = null;
      }
      window.imageStats.classified += 1;
      // A frame that arrived before this answer and waits for the next animation frame is older: its maps
      // and top 3 must not cover the drawing's.
      if (pending) delete pending.activations;
      drawInspection(message);
    } else if (message.type === "data") {
      showMessage("");
      adopt(message.settings);
      curve = [];
      pending = null; // a frame of the network this replaces
      sizes = message.sizes;
      $("model-info").textContent = `${message.parameters.toLocaleString()} parameters; ${message.data}: ` +
        `${message.sizes.train.toLocaleString()} training images; ${message.device}`;
    } else if (message.type === "error") {
      showMessage(message.message);
      if (message.settings) adopt(message.settings);
    } else if (message.type === "export") {
      showExport(message);
    }
  };
}
// Two frames that arrive before one animation frame are drawn as one: a frame carries only what changed, so
// the newer one's views replace the older's, and the older's curve points, digits and measurement are kept.
function merged(older, newer) {
  const both = { ...older, ...newer };
  const restarted = newer.curve && newer.curve.length && newer.curve[0].step === 0; // a new network's first point
  both.curve = restarted ? newer.curve : [...(older.curve || []), ...(newer.curve || [])];
  both.digits = { ...(older.digits || {}), ...(newer.digits || {}) };
  return both;
}
function adopt(values) {
  settings = { ...settings, ...values };
  for (const name of ["preset", "data", "optimizer", "lr", "batch", "activation", "l2", "augment", "model"]) {
    if (settings[name] !== undefined) $(name).value = settings[name];
  }
  $("dropout").value = String(settings.dropout || 0);
}
function setPlaying(on) {
  playing = on;
  $("play").innerHTML = on ? "&#x275a;&#x275a;" : "&#x25b6;";
  $("play").classList.toggle("playing", on);
}

// ---- controls -----------------------------------------------------------------------------------------

function setupControls() {
  $("play").onclick = () => {
    setPlaying(!playing);
    if (playing && window.imageStats.playedAt === null) window.imageStats.playedAt = performance.now();
    send({ type: playing ? "play" : "pause" });
  };
  $("step").onclick = () => { setPlaying(false); send({ type: "step" }); };
  $("reset").onclick = () => { send({ type: "reset" }); };
  $("preset").onchange = () => {
    window.imageStats.playedAt = null;
    window.imageStats.accuracy = [];
    sendSettings({ preset: $("preset").value });
  };
  for (const name of ["data", "optimizer", "activation", "augment"]) {
    $(name).onchange = () => sendSettings({ [name]: $(name).value });
  }
  $("dropout").onchange = () => sendSettings({ dropout: Number($("dropout").value) });
  for (const name of ["lr", "batch", "l2"]) {
    $(name).onchange = () => sendSettings({ [name]: Number($(name).value) });
  }
  $("apply-model").onclick = () => sendSettings({ model: $("model").value });
  $("model").onkeydown = (event) => { if (event.key === "Enter") sendSettings({ model: $("model").value }); };
  $("export").onclick = () => send({ type: "export" });
  $("import-file").onchange = async () => {
    const file = $("import-file").files[0];
    if (!file) return;
    const bytes = new Uint8Array(await file.arrayBuffer());
    let binary = "";
    for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
    send({ type: "import", weights: btoa(binary) });
    $("import-file").value = "";
  };
  setupDrawing();
}

// ---- drawing a digit ----------------------------------------------------------------------------------

function setupDrawing() {
  const canvas = $("draw"), context = canvas.getContext("2d");
  let last = null;
  const clear = () => { context.fillStyle = "#000"; context.fillRect(0, 0, canvas.width, canvas.height); };
  clear();
  const at = (event) => {
    const box = canvas.getBoundingClientRect();
    return [(event.clientX - box.left) * canvas.width / box.width, (event.clientY - box.top) * canvas.height / box.height];
  };
  canvas.addEventListener("pointerdown", (event) => {
    last = at(event);
    canvas.setPointerCapture(event.pointerId);
  });
  canvas.addEventListener("pointermove", (event) => {
    if (!last) return;
    const point = at(event);
    context.strokeStyle = "#fff";
    context.lineWidth = 20;
    context.lineCap = "round";
    context.beginPath();
    context.moveTo(...last);
    context.lineTo(...point);
    context.stroke();
    last = point;
  });
  const end = () => {
    if (!last) return;
    last = null;
    classifyDrawing();
  };
  canvas.addEventListener("pointerup", end);
  canvas.addEventListener("pointercancel", end);
  $("clear").onclick = () => { clear(); send({ type: "pick", index: picked }); };
}
function classifyDrawing() {
  const canvas = $("draw");
  const rgba = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
  const grey = new Uint8Array(canvas.width * canvas.height);
  for (let i = 0; i < grey.length; i++) grey[i] = rgba[4 * i];
  let binary = "";
  for (let i = 0; i < grey.length; i += 0x8000) binary += String.fromCharCode(...grey.subarray(i, i + 0x8000));
  drawnAt = performance.now();
  send({ type: "draw", width: canvas.width, height: canvas.height, pixels: btoa(binary) });
}

// ---- the views ----------------------------------------------------------------------------------------

function grey(canvas, pixels, width, height, x = 0, y = 0, scale = 1, diverging = false) {
  const context = canvas.getContext("2d"), image = context.createImageData(width, height);
  for (let i = 0; i < width * height; i++) {
    const v = pixels[i];
    if (diverging) { // 128 is zero: orange below, blue above
      const t = (v - 128) / 127;
      const [r, g, b] = t < 0 ? [245, 147, 34] : [8, 119, 189];
      const a = Math.abs(t);
      image.data.set([255 - a * (255 - r), 255 - a * (255 - g), 255 - a * (255 - b), 255], 4 * i);
    } else {
      image.data.set([v, v, v, 255], 4 * i);
    }
  }
  if (scale === 1) { context.putImageData(image, x, y); return; }
  const tile = document.createElement("canvas");
  tile.width = width; tile.height = height;
  tile.getContext("2d").putImageData(image, 0, 0);
  context.imageSmoothingEnabled = false;
  context.drawImage(tile, x, y, width * scale, height * scale);
}

function drawPending() {
  if (!pending) return;
  const f = pending;
  pending = null;
  for (; framesSinceDraw > 0; framesSinceDraw--) send({ type: "ack" });
  window.imageStats.frames += 1;
  window.imageStats.playing = f.playing; // the server's word: a frame after a pause says false
  if (f.message) { showMessage(f.message); setPlaying(false); }
  if (!f.playing && playing && f.message) setPlaying(false);
  $("steps").textContent = f.step.toLocaleString();
  $("epoch").textContent = f.epoch.toFixed(2);
  if (f.curve && f.curve.length) {
    if (f.curve[0].step === 0) curve = [];
    curve.push(...f.curve);
    drawCurves();
  }
  if (f.val_accuracy !== undefined) {
    $("val-accuracy").textContent = `${(100 * f.val_accuracy).toFixed(1)}%`;
    $("test-accuracy").textContent = `test accuracy ${(100 * f.test_accuracy).toFixed(1)}%, ${f.wrong} of ${sizes.test.toLocaleString()} wrong`;
    if (window.imageStats.playedAt !== null) {
      window.imageStats.accuracy.push([performance.now() - window.imageStats.playedAt, f.val_accuracy]);
    }
  }
  if (f.digits) Object.assign(digits, f.digits);
  if (f.confusion) drawConfusion(f.confusion);
  if (f.misclassified) drawMisclassified(f.misclassified);
  if (f.filters) drawFilters(f.filters);
  if (f.grad_norms) drawGradNorms(f.grad_norms);
  if (f.activations) drawInspection(f);
}

function drawCurves() {
  const canvas = $("curves"), c = canvas.getContext("2d"), w = canvas.width, h = canvas.height;
  c.clearRect(0, 0, w, h);
  if (!curve.length) return;
  const last = Math.max(1, curve[curve.length - 1].epoch);
  const losses = curve.flatMap((p) => [p.train_loss, p.val_loss]).filter((v) => v !== null && v !== undefined);
  const top = Math.max(0.5, ...losses.map((v) => Math.min(v, 5)));
  const x = (p) => 30 + (w - 40) * p.epoch / last;
  c.strokeStyle = "#ccc"; c.fillStyle = "#666"; c.font = "10px sans-serif";
  for (const a of [0.5, 0.9, 1]) {
    const y = 10 + (h - 30) * (1 - a);
    c.beginPath(); c.moveTo(30, y); c.lineTo(w - 10, y); c.stroke();
    c.fillText(`${Math.round(a * 100)}%`, 2, y + 3);
  }
  c.fillText(`epoch ${last.toFixed(2)}`, w - 70, h - 4);
  const line = (key, colour, scale, dash) => {
    c.strokeStyle = colour; c.setLineDash(dash); c.lineWidth = 1.5; c.beginPath();
    let started = false;
    for (const p of curve) {
      if (p[key] === null || p[key] === undefined) continue;
      const y = 10 + (h - 30) * (1 - Math.min(p[key], scale) / scale);
      if (started) c.lineTo(x(p), y); else c.moveTo(x(p), y);
      started = true;
    }
    c.stroke(); c.setLineDash([]);
  };
  line("train_accuracy", "#f59322", 1, []);
  line("val_accuracy", "#0877bd", 1, []);
  line("train_loss", "#f59322", top, [4, 3]);
  line("val_loss", "#0877bd", top, [4, 3]);
}

function drawConfusion(matrix) {
  const canvas = $("confusion"), c = canvas.getContext("2d"), n = matrix.length, cell = (canvas.width - 20) / n;
  c.clearRect(0, 0, canvas.width, canvas.height);
  c.font = "9px sans-serif";
  for (let i = 0; i < n; i++) {
    const total = matrix[i].reduce((a, b) => a + b, 0) || 1;
    c.fillStyle = "#666";
    c.fillText(String(i), 4, 20 + cell * i + cell / 2 + 3);
    c.fillText(String(i), 20 + cell * i + cell / 2 - 3, 12);
    for (let j = 0; j < n; j++) {
      const share = matrix[i][j] / total;
      c.fillStyle = i === j ? `rgba(8,119,189,${share})` : `rgba(245,147,34,${Math.min(1, 4 * share)})`;
      c.fillRect(20 + cell * j, 16 + cell * i, cell - 1, cell - 1);
      if (matrix[i][j]) {
        c.fillStyle = share > 0.5 ? "#fff" : "#222";
        c.fillText(String(matrix[i][j]), 20 + cell * j + 3, 16 + cell * i + cell / 2 + 3);
      }
    }
  }
}

function drawMisclassified(list) {
  const box = $("misclassified");
  box.innerHTML = "";
  for (const m of list) {
    const figure = document.createElement("figure"), canvas = document.createElement("canvas");
    canvas.width = 28; canvas.height = 28;
    if (digits[m.index]) grey(canvas, decode(digits[m.index]), 28, 28);
    const caption = document.createElement("figcaption");
    caption.textContent = `${m.label}\u2192${m.predicted}`;
    figure.title = `test image ${m.index}: a ${m.label}, taken for a ${m.predicted}`;
    figure.dataset.index = m.index;
    figure.onclick = () => send({ type: "pick", index: m.index });
    figure.append(canvas, caption);
    box.append(figure);
  }
}

function drawFilters(f) {
  const canvas = $("filters"), scale = f.height <= 7 ? 6 : 2, per = Math.max(1, Math.floor(canvas.width / (f.width * scale + 2)));
  canvas.height = Math.ceil(f.count / per) * (f.height * scale + 2);
  const pixels = decode(f.pixels), size = f.width * f.height;
  for (let i = 0; i < f.count; i++) {
    grey(canvas, pixels.subarray(i * size, (i + 1) * size), f.width, f.height,
      (i % per) * (f.width * scale + 2), Math.floor(i / per) * (f.height * scale + 2), scale, true);
  }
  $("filters-label").textContent = `${f.layer}: ${f.count} ${f.height}x${f.width} (orange negative, blue positive)`;
}

function drawGradNorms(norms) {
  const box = $("grad-norms");
  const values = norms.map((n) => n.norm).filter((v) => v > 0);
  if (!values.length) return;
  const low = Math.log10(Math.min(...values)) - 0.5, high = Math.log10(Math.max(...values));
  box.innerHTML = "";
  for (const n of norms) {
    const row = document.createElement("div"), name = document.createElement("span"), bar = document.createElement("span");
    const value = document.createElement("span");
    row.className = "row"; name.className = "name"; bar.className = "bar";
    name.textContent = n.layer;
    const share = n.norm > 0 ? (Math.log10(n.norm) - low) / Math.max(0.5, high - low) : 0;
    bar.style.width = `${Math.max(2, 150 * share)}px`;
    value.textContent = n.norm === null ? "nan" : n.norm.toPrecision(2);
    row.append(name, bar, value);
    box.append(row);
  }
}

function drawInspection(x) {
  const list = $("top3");
  list.innerHTML = "";
  for (const t of x.top3) {
    const item = document.createElement("li");
    item.textContent = `${t.class}  ${(100 * t.probability).toFixed(1)}%`;
    list.append(item);
  }
  if (x.source === "test") picked = x.picked;
  grey($("input"), decode(x.input), 28, 28, 0, 0, 3);
  $("input-label").textContent = x.source === "drawing" ? "your digit, as the network sees it" : `test image ${x.picked} (a ${x.label})`;
  $("notes").textContent = (x.notes || []).join("; ");
  const box = $("activations");
  box.innerHTML = "";
  for (const layer of x.activations) {
    const div = document.createElement("div"), name = document.createElement("div");
    div.className = "layer"; name.className = "layer-name";
    name.textContent = `${layer.index}: ${layer.layer} \u2192 ${layer.shape.join("x")}`;
    div.append(name);
    const pixels = decode(layer.pixels);
    if (layer.maps) {
      const size = layer.height * layer.width, scale = layer.height >= 20 ? 2 : layer.height >= 8 ? 4 : 8;
      for (let i = 0; i < layer.maps; i++) {
        const canvas = document.createElement("canvas");
        canvas.width = layer.width * scale; canvas.height = layer.height * scale;
        grey(canvas, pixels.subarray(i * size, (i + 1) * size), layer.width, layer.height, 0, 0, scale);
        div.append(canvas);
      }
    } else {
      const canvas = document.createElement("canvas"), cell = layer.units <= 10 ? 24 : 5;
      canvas.width = Math.min(layer.units, 50) * cell; canvas.height = Math.ceil(layer.units / 50) * cell;
      const c = canvas.getContext("2d");
      for (let i = 0; i < layer.units; i++) {
        c.fillStyle = `rgb(${pixels[i]},${pixels[i]},${pixels[i]})`;
        c.fillRect((i % 50) * cell, Math.floor(i / 50) * cell, cell - 1, cell - 1);
      }
      div.append(canvas);
    }
    box.append(div);
  }
}

// ---- export -------------------------------------------------------------------------------------------

function showExport(x) {
  $("export-panel").hidden = false;
  const links = $("export-links");
  links.innerHTML = "";
  const files = [[`${x.name}.safetensors`, new Blob([decode(x.weights)], { type: "application/octet-stream" })],
    [`${x.name}.toml`, new Blob([x.config], { type: "application/toml" })],
    [`${x.name}.py`, new Blob([x.python], { type: "text/x-python" })]];
  for (const [name, blob] of files) {
    const a = document.createElement("a");
    a.href = URL.createObjectURL(blob);
    a.download = name;
    a.textContent = `download ${name}`;
    a.className = "download";
    links.append(a, document.createElement("br"));
  }
  $("export-command").textContent = `${x.command}\n(continues training the exported weights: keep the .toml and .safetensors files side by side)`;
  $("export-python").textContent = x.python;
}

// ---- start --------------------------------------------------------------------------------------------

async function start() {
  setupControls();
  try {
    const body = await (await fetch("/api/images")).json();
    presets = body.presets;
    for (const [key, preset] of Object.entries(presets)) {
      const option = document.createElement("option");
      option.value = key;
      option.textContent = preset.title;
      $("preset").append(option);
    }
    for (const name of body.datasets) {
      const option = document.createElement("option");
      option.textContent = name;
      $("data").append(option);
    }
  } catch (error) {
    showMessage(`could not load the presets: ${error}`);
  }
  connect();
}
window.addEventListener("DOMContentLoaded", start);
