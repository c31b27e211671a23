// layerlab playground: the page. Plain JavaScript, no libraries: it sends the controls to the server over a
// WebSocket and draws the frames the server's numpy network sends back.
"use strict";

const FEATURES = ["x1", "x2", "x1^2", "x2^2", "x1*x2", "sin(x1)", "sin(x2)"];
const FEATURE_LABELS = { x1: "X\u2081", x2: "X\u2082", "x1^2": "X\u2081\u00b2", "x2^2": "X\u2082\u00b2",
  "x1*x2": "X\u2081X\u2082", "sin(x1)": "sin(X\u2081)", "sin(x2)": "sin(X\u2082)" };
const FEATURE_FN = { x1: (a, b) => a, x2: (a, b) => b, "x1^2": (a, b) => a * a, "x2^2": (a, b) => b * b,
  "x1*x2": (a, b) => a * b, "sin(x1)": (a, b) => Math.sin(a), "sin(x2)": (a, b) => Math.sin(b) };
const DATASETS = { circle: "Circle", xor: "Exclusive or", gauss: "Gaussian", spiral: "Spiral",
  plane: "Plane", multigauss: "Multi Gaussian" };
const REGRESSION = ["plane", "multigauss"];
const LEARNING_RATES = [0.000001, 0.00001, 0.0001, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1, 3, 10];
const RATES = [0, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1, 3, 10];
const SPEEDS = [1, 2, 5, 10, 20, 50, 100];
const CLASS_COLOURS = ["#f59322", "#0877bd", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf"];
const DEFAULTS = { data: "circle", problem: "classification", points: 500, ratio: 50, noise: 0, batch: 10, seed: 0,
  init: 0, features: ["x1", "x2"], hidden: [4, 2], activation: "tanh", lr: 0.03, regularization: "none", rate: 0,
  speed: 1, task: 0, show_test: false, discretize: false };

const $ = (id) => document.getElementById(id);
const ICONS = {
  play: '<svg viewBox="0 0 24 24" width="26" height="26"><path d="M8 5v14l11-7z" fill="currentColor"/></svg>',
  pause: '<svg viewBox="0 0 24 24" width="26" height="26"><path d="M6 5h4v14H6zM14 5h4v14h-4z" fill="currentColor"/></svg>',
  step: '<svg viewBox="0 0 24 24" width="20" height="20"><path d="M6 5v14l9-7zM16 5h3v14h-3z" fill="currentColor"/></svg>',
  reset: '<svg viewBox="0 0 24 24" width="20" height="20"><path d="M12 5V2L7 6l5 4V7a5 5 0 1 1-5 5H5a7 7 0 1 0 7-7z" fill="currentColor"/></svg>',
};
let state = { ...DEFAULTS };
let rev = 0;
let playing = false;
let data = null; // the last "data" message: points, classes, extent
let frame = null; // the last frame drawn
let pending = null; // the newest frame not yet drawn
let history = []; // [epoch, train, test]
let tasks = {};
let limits = { layers: 10, neurons: 32 };
let selected = null; // [layer, unit] explained
let geometry = null; // node positions
let linkPaths = []; // {path, layer, out, in, a, b, mid}: the SVG paths catch the mouse, a canvas draws them
let linkKeys = null; // each link's drawn colour and width (quantised), to redraw only when one changes
let stripLinks = []; // stripLinks[l]: the indices in linkPaths of the links from column l to column l + 1
let hovered = null; // [column, unit] under the mouse: its map fills the large output (as in Playground)
let editing = null; // {param, layer, unit, input}: the weight or bias in the editor
let pointsLayer = null; // the data points drawn once, laid over every heat map
let neuronBytes = null; // the last frame's hidden-neuron maps (bytes), for the hovered one
const featureBytes = {}; // each feature's map over the plane, computed once per extent
let framesSinceDraw = 0; // frames received and not yet acknowledged (the server waits for the page)
// frames, ms spent drawing them, the epoch drawn, strips of links redrawn: benchmarks/playground_fps.py
const stats = { received: 0, drawn: 0, drawMs: 0, epoch: 0, linkStrips: 0 };
window.playgroundStats = stats;

// ---- colours ----------------------------------------------------------------------------------------

function hexRgb(hex) { return [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16)); }
const NEG = hexRgb("#f59322"), MID = hexRgb("#e8eaeb"), POS = hexRgb("#0877bd");
const SCALE = new Uint8ClampedArray(256 * 3); // byte value (0 = -1, 255 = +1) -> colour, Playground's scale
for (let i = 0; i < 256; i++) {
  const t = i / 127.5 - 1, from = t < 0 ? NEG : POS, w = Math.abs(t);
  for (let c = 0; c < 3; c++) SCALE[i * 3 + c] = MID[c] * (1 - w) + from[c] * w;
}
// The same colours as whole pixels (RGBA in memory order) for writing an ImageData as 32-bit words:
// PIXEL[v] plain, PIXEL[256 + v] discretized (v < 128: -1, else +1); PIXEL[512] the nodes' frame, #999.
const PIXEL = new Uint32Array(513);
{
  const bytes = new Uint8Array(PIXEL.buffer);
  for (let i = 0; i < 512; i++) {
    const v = i < 256 ? i : i - 256 >= 128 ? 255 : 0;
    bytes.set([SCALE[v * 3], SCALE[v * 3 + 1], SCALE[v * 3 + 2], 255], i * 4);
  }
  bytes.set([153, 153, 153, 255], 512 * 4);
}
function scaleColour(v) { // v in [-1, 1]
  const i = Math.round((Math.max(-1, Math.min(1, v)) + 1) * 127.5) * 3;
  return `rgb(${SCALE[i]},${SCALE[i + 1]},${SCALE[i + 2]})`;
}
// Canvases drawn on the CPU (willReadFrequently): many small draws per frame (a map per neuron) cost a
// GPU canvas one upload each when the frame is committed; a CPU canvas uploads its bitmap once. The ones
// redrawn every frame are opaque (alpha false): the compositor copies them instead of blending them over
// the page, and draws nothing under them.
function context2d(canvas) { return canvas.getContext("2d", { willReadFrequently: true }); }
function opaque2d(canvas) { return canvas.getContext("2d", { willReadFrequently: true, alpha: false }); }
function decode(b64) {
  const text = atob(b64), bytes = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
  return bytes;
}
const utf8 = new TextDecoder();
function unpackFrame(buffer) { // the server's pack_frame: a 4-byte length, JSON, then the heat maps' bytes
  const size = new DataView(buffer).getUint32(0, true), message = JSON.parse(utf8.decode(new Uint8Array(buffer, 4, size)));
  for (const [name, [offset, length]] of Object.entries(message.bytes)) message[name] = new Uint8Array(buffer, 4 + size + offset, length);
  delete message.bytes;
  return message;
}
function paint(canvas, bytes, side, discretize) {
  if (canvas.width !== side) { canvas.width = side; canvas.height = side; }
  const ctx = context2d(canvas);
  if (!canvas.image || canvas.image.width !== side) canvas.image = ctx.createImageData(side, side);
  const image = canvas.image;
  for (let i = 0; i < side * side; i++) {
    let v = bytes[i];
    if (discretize) v = v >= 128 ? 255 : 0;
    image.data[i * 4] = SCALE[v * 3]; image.data[i * 4 + 1] = SCALE[v * 3 + 1];
    image.data[i * 4 + 2] = SCALE[v * 3 + 2]; image.data[i * 4 + 3] = 255;
  }
  ctx.putImageData(image, 0, 0);
}
function paintClasses(canvas, classes, confidence, side, discretize) {
  if (canvas.width !== side) { canvas.width = side; canvas.height = side; }
  const ctx = context2d(canvas);
  if (!canvas.image || canvas.image.width !== side) canvas.image = ctx.createImageData(side, side);
  const image = canvas.image;
  const k = data ? data.classes.length : 2;
  for (let i = 0; i < side * side; i++) {
    const colour = hexRgb(CLASS_COLOURS[classes[i] % CLASS_COLOURS.length]);
    // confidence byte: 0 = probability 0, 255 = 1; a uniform guess (1/k) is white
    const p = confidence[i] / 255, w = discretize ? 1 : Math.max(0, (p - 1 / k) / (1 - 1 / k));
    for (let c = 0; c < 3; c++) image.data[i * 4 + c] = MID[c] * (1 - w) + colour[c] * w;
    image.data[i * 4 + 3] = 255;
  }
  ctx.putImageData(image, 0, 0);
}

// ---- URL state --------------------------------------------------------------------------------------

function readHash() {
  // A link may name just a task (#task=5): its preset, then any other settings the link gives.
  const params = new URLSearchParams(location.hash.slice(1));
  const task = tasks[params.get("task")];
  const result = { ...DEFAULTS, ...(task ? task.settings : {}) };
  for (const [key, value] of params) {
    if (!(key in DEFAULTS)) continue;
    const d = DEFAULTS[key];
    if (Array.isArray(d)) result[key] = value === "" ? [] : value.split(",").map((v) => (key === "hidden" ? Number(v) : v));
    else if (typeof d === "number") result[key] = Number(value);
    else if (typeof d === "boolean") result[key] = value === "true";
    else result[key] = value;
  }
  if (result.data === "upload") { result.data = "circle"; result.problem = "classification"; }
  return result;
}
function writeHash() {
  const params = new URLSearchParams();
  for (const key of Object.keys(DEFAULTS)) {
    const v = state[key];
    params.set(key, Array.isArray(v) ? v.join(",") : String(v));
  }
  history_replace("#" + params.toString());
}
function history_replace(hash) { window.history.replaceState(null, "", hash); }

// ---- connection -------------------------------------------------------------------------------------

function sendConfig() {
  rev += 1;
  writeHash();
  send({ type: "config", settings: state, rev });
}
function connect() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  socket = new WebSocket(`${scheme}://${location.host}/ws`);
  socket.binaryType = "arraybuffer"; // frames: one binary message each (unpackFrame)
  socket.onopen = () => { showMessage(""); sendConfig(); };
  socket.onclose = socketClosed;
  socket.onmessage = (event) => {
    const message = typeof event.data === "string" ? JSON.parse(event.data) : unpackFrame(event.data);
    if (message.type === "frame") {
      stats.received += 1;
      framesSinceDraw += 1;
      pending = message;
      requestAnimationFrame(drawPending);
    } else if (message.type === "data") {
      data = message;
      showMessage(""); // new data loaded: an earlier error (a bad CSV file) no longer applies
      $("data-note").textContent = message.note || "";
      adopt(message.settings);
      history = [];
      pointsLayer = null;
      drawLegend();
      buildNetwork();
      drawAll();
    } else if (message.type === "error") {
      showMessage(message.message);
      if (message.settings) { adopt(message.settings); buildNetwork(); }
    } else if (message.type === "export") {
      showExport(message);
    }
  };
}
function adopt(settings) {
  const network = JSON.stringify([state.features, state.hidden]) !== JSON.stringify([settings.features, settings.hidden]);
  state = { ...state, ...settings };
  syncControls();
  writeHash();
  if (network) buildNetwork();
}
function showMessage(text) {
  const box = $("message");
  box.textContent = text;
  box.hidden = !text;
}

// ---- controls ---------------------------------------------------------------------------------------

function fillSelect(select, values, format) {
  select.innerHTML = "";
  for (const v of values) {
    const option = document.createElement("option");
    option.value = String(v);
    option.textContent = format ? format(v) : String(v);
    select.appendChild(option);
  }
}
function selectValue(select, value) {
  if (![...select.options].some((o) => o.value === String(value))) {
    const option = document.createElement("option");
    option.value = option.textContent = String(value);
    select.appendChild(option);
  }
  select.value = String(value);
}
function syncControls() {
  selectValue($("lr"), state.lr);
  $("activation").value = state.activation;
  $("regularization").value = state.regularization;
  selectValue($("rate"), state.rate);
  $("problem").value = state.problem;
  selectValue($("speed"), state.speed);
  $("task").value = String(state.task);
  selectValue($("points"), state.points);
  for (const key of ["ratio", "noise", "batch"]) $(key).value = state[key];
  $("batch").max = Math.max(100, Math.round(state.points * state.ratio / 100));
  $("ratio-value").textContent = state.ratio + "%";
  $("noise-value").textContent = state.data === "upload" ? "(uploaded data)" : String(state.noise);
  $("batch-value").textContent = String(state.batch);
  $("show_test").checked = state.show_test;
  $("discretize").checked = state.discretize;
  $("layer-count").textContent = `${state.hidden.length} hidden layer${state.hidden.length === 1 ? "" : "s"}`;
  for (const button of document.querySelectorAll("#datasets button")) {
    button.classList.toggle("selected", button.dataset.name === state.data);
    const regression = REGRESSION.includes(button.dataset.name);
    button.hidden = regression !== (state.problem === "regression");
  }
  showTask();
}
function change(settings) {
  const before = JSON.stringify([state.features, state.hidden]);
  state = { ...state, ...settings };
  syncControls();
  if (JSON.stringify([state.features, state.hidden]) !== before) buildNetwork();
  sendConfig();
}
function setPlaying(value) {
  playing = value;
  $("play").innerHTML = value ? ICONS.pause : ICONS.play;
  $("play").setAttribute("aria-pressed", String(value));
}

function setupControls() {
  $("play").innerHTML = ICONS.play;
  $("step").innerHTML = ICONS.step;
  $("reset").innerHTML = ICONS.reset;
  fillSelect($("lr"), LEARNING_RATES);
  fillSelect($("rate"), RATES);
  fillSelect($("speed"), SPEEDS);
  $("play").onclick = () => { setPlaying(!playing); send({ type: playing ? "play" : "pause" }); };
  $("step").onclick = () => { setPlaying(false); send({ type: "step" }); };
  $("reset").onclick = () => { history = []; change({ init: state.init + 1 }); };
  $("regenerate").onclick = () => change({ seed: state.seed + 1 });
  $("lr").onchange = (e) => change({ lr: Number(e.target.value) });
  $("activation").onchange = (e) => change({ activation: e.target.value });
  $("regularization").onchange = (e) => change({ regularization: e.target.value });
  $("rate").onchange = (e) => change({ rate: Number(e.target.value) });
  $("speed").onchange = (e) => change({ speed: Number(e.target.value) });
  $("points").onchange = (e) => change({ points: Number(e.target.value) });
  $("problem").onchange = (e) => {
    const regression = e.target.value === "regression";
    change({ problem: e.target.value, data: regression ? "plane" : "circle" });
  };
  for (const key of ["ratio", "noise", "batch"]) {
    $(key).oninput = (e) => { $(`${key}-value`).textContent = e.target.value + (key === "ratio" ? "%" : ""); };
    $(key).onchange = (e) => change({ [key]: Number(e.target.value) });
  }
  $("show_test").onchange = (e) => { state.show_test = e.target.checked; writeHash(); drawPoints(); };
  $("discretize").onchange = (e) => { state.discretize = e.target.checked; writeHash(); drawAll(); };
  $("task").onchange = (e) => {
    const n = Number(e.target.value);
    history = [];
    if (n && tasks[n]) change({ ...tasks[n].settings });
    else change({ task: 0 });
  };
  $("add-layer").onclick = () => {
    if (state.hidden.length < limits.layers) change({ hidden: [...state.hidden, 2] });
  };
  $("remove-layer").onclick = () => {
    if (state.hidden.length) change({ hidden: state.hidden.slice(0, -1) });
  };
  $("csv").onchange = (e) => {
    const file = e.target.files[0];
    if (!file) return;
    const most = limits.csv_bytes || 1000000;
    if (file.size > most) { showMessage(`${file.name} is over ${(most / 1000).toLocaleString("en")} kB; upload at most ${(limits.points || 5000).toLocaleString("en")} points`); return; }
    file.text().then((text) => { setPlaying(false); send({ type: "pause" }); send({ type: "upload", csv: text }); });
    e.target.value = "";
  };
  $("export").onclick = () => send({ type: "export" });
  $("import").onchange = (e) => {
    const file = e.target.files[0];
    if (!file) return;
    const most = limits.import_bytes || 2000000;
    e.target.value = "";
    if (file.size > most) { // refused here: the server would refuse it too, after a long upload
      showMessage(`${file.name} is ${Math.round(file.size / 1000).toLocaleString("en")} kB, over the limit of ` +
        `${(most / 1000).toLocaleString("en")} kB; import a .safetensors file that Export model saved`);
      return;
    }
    file.arrayBuffer().then((buffer) => {
      const bytes = new Uint8Array(buffer);
      let text = "";
      for (let i = 0; i < bytes.length; i += 0x8000) text += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
      setPlaying(false);
      send({ type: "pause" });
      send({ type: "import", weights: btoa(text) });
    });
    e.target.value = "";
  };
  $("explain-close").onclick = () => { selected = null; send({ type: "explain", neuron: null }); drawNetworkSelection(); $("explain").hidden = true; };
  window.addEventListener("resize", () => { buildNetwork(); drawAll(); });
  $("editor-value").onkeydown = (e) => { if (e.key === "Enter") submitEditor(); else if (e.key === "Escape") hideEditor(); };
  $("editor-ok").onclick = submitEditor;
  $("editor-cancel").onclick = hideEditor;
  $("editor").addEventListener("focusout", (e) => { if (!$("editor").contains(e.relatedTarget)) hideEditor(); });
}

function setupDatasets() {
  const box = $("datasets");
  const shapes = {
    circle: (x, y) => { const r = Math.hypot(x, y); return r < 2.5 ? 1 : r > 3.5 && r < 5 ? -1 : 0; },
    xor: (x, y) => (x * y >= 0 ? 1 : -1),
    gauss: (x, y) => Math.max(0, 1 - Math.hypot(x - 2, y - 2) / 2.5) - Math.max(0, 1 - Math.hypot(x + 2, y + 2) / 2.5),
    spiral: (x, y) => {
      const r = Math.hypot(x, y);
      if (r > 5.2) return 0;
      let phase = (Math.atan2(x, y) - (1.75 * 2 * Math.PI * r) / 5) % (2 * Math.PI);
      if (phase < 0) phase += 2 * Math.PI;
      return Math.cos(phase) > 0.75 ? 1 : Math.cos(phase) < -0.75 ? -1 : 0;
    },
    plane: (x, y) => (x + y) / 12,
    multigauss: (x, y) => [[-4, 2.5, 1], [0, 2.5, -1], [4, 2.5, 1], [-4, -2.5, -1], [0, -2.5, 1], [4, -2.5, -1]]
      .reduce((best, [cx, cy, s]) => { const v = s * Math.max(0, 1 - Math.hypot(x - cx, y - cy) / 2); return Math.abs(v) > Math.abs(best) ? v : best; }, 0),
  };
  for (const [name, title] of Object.entries(DATASETS)) {
    const button = document.createElement("button");
    button.dataset.name = name;
    button.title = title;
    button.setAttribute("aria-label", `data set ${title}`);
    const canvas = document.createElement("canvas"), image = document.createElement("img");
    const side = 26, bytes = new Uint8Array(side * side);
    for (let i = 0; i < side; i++) for (let j = 0; j < side; j++) {
      const x = -6 + (12 * j) / (side - 1), y = 6 - (12 * i) / (side - 1);
      bytes[i * side + j] = Math.round((Math.max(-1, Math.min(1, shapes[name](x, y))) + 1) * 127.5);
    }
    paint(canvas, bytes, side, false);
    image.src = canvas.toDataURL(); // an image, not a canvas: a canvas is a compositing layer of its own
    image.alt = "";
    const label = document.createElement("span");
    label.textContent = title;
    button.append(image, label);
    button.onclick = () => change({ data: name, problem: REGRESSION.includes(name) ? "regression" : "classification" });
    box.appendChild(button);
  }
}

function showTask() {
  const task = tasks[state.task];
  $("task-panel").hidden = !task;
  if (!task) return;
  $("task-title").textContent = task.title;
  const list = $("task-questions");
  list.innerHTML = "";
  for (const q of task.questions) { const li = document.createElement("li"); li.textContent = q; list.appendChild(li); }
  $("task-target").textContent = task.target
    ? `Target: a test loss under ${task.target} (Playground's scale; our mse under ${task.target / 2}).` : "";
}

// ---- the network ------------------------------------------------------------------------------------

function outputUnits() {
  if (!data) return 1;
  return data.problem === "classification" && data.classes.length > 2 ? data.classes.length : 1;
}
function buildNetwork() {
  const box = $("nodes"), svg = $("links"), network = $("network");
  box.innerHTML = "";
  svg.innerHTML = "";
  linkPaths = [];
  linkKeys = null;
  stripLinks = [];
  linksDue = 0;
  hideEditor();
  const width = network.clientWidth, height = network.clientHeight;
  const layers = [FEATURES.length, ...state.hidden, outputUnits()];
  const most = Math.max(...layers);
  const size = Math.max(8, Math.min(34, Math.floor((height - 40) / most) - 4));
  const step = Math.min(size + 12, (height - 40) / most);
  const left = 86, right = width - size - 4;
  const columnX = (c) => left + (c * (right - left)) / (layers.length - 1);
  const nodeY = (i) => 34 + i * step;
  // The canvas starts right of the features' names and below the layers' buttons: nothing of the page
  // is painted over it (text over a canvas would be given a compositing layer of its own, redrawn with it)
  const origin = [left - 1, 30];
  geometry = { size, positions: [], layers, origin };
  layers.forEach((count, c) => {
    const column = [];
    for (let i = 0; i < count; i++) column.push([columnX(c), nodeY(i)]);
    geometry.positions.push(column);
  });
  const canvas = $("network-canvas"), ratio = window.devicePixelRatio || 1; // drawn at the screen's resolution
  const [cssWidth, cssHeight] = [width - origin[0], height - origin[1]];
  Object.assign(canvas.style, { left: `${origin[0]}px`, top: `${origin[1]}px`, width: `${cssWidth}px`, height: `${cssHeight}px` });
  canvas.width = networkBase.width = Math.round(cssWidth * ratio);
  canvas.height = networkBase.height = Math.round(cssHeight * ratio);
  mapsImage = networkStatic = null;
  // features
  FEATURES.forEach((name, i) => {
    const node = makeNode(geometry.positions[0][i], size, `feature-${i}`);
    const label = document.createElement("span");
    label.className = "name";
    label.textContent = FEATURE_LABELS[name];
    node.appendChild(label);
    node.classList.toggle("disabled", !state.features.includes(name));
    node.title = `${FEATURE_LABELS[name]}: click to ${state.features.includes(name) ? "remove" : "add"} it`;
    node.onclick = () => {
      const on = state.features.includes(name);
      const features = on ? state.features.filter((f) => f !== name) : FEATURES.filter((f) => f === name || state.features.includes(f));
      if (!features.length) { showMessage("keep at least one feature"); return; }
      change({ features });
    };
    box.appendChild(node);
    node.onmouseenter = () => { if (state.features.includes(name)) { hovered = [0, i]; drawHeatmap(frame); } };
    node.onmouseleave = () => unhover();
  });
  // hidden and output neurons
  for (let c = 1; c < layers.length; c++) {
    for (let i = 0; i < layers[c]; i++) {
      const node = makeNode(geometry.positions[c][i], size, `neuron-${c}-${i}`);
      node.onclick = () => {
        selected = [c, i];
        send({ type: "explain", neuron: [c, i] });
        drawNetworkSelection();
        openEditor({ param: "bias", layer: c, unit: i }, geometry.positions[c][i][0], geometry.positions[c][i][1] + size + 4);
      };
      node.onmouseenter = () => { showNodeTip(c, i); if (c < layers.length - 1) { hovered = [c, i]; drawHeatmap(frame); } };
      node.onmouseleave = () => { $("tooltip").hidden = true; unhover(); };
      box.appendChild(node);
    }
    if (c < layers.length - 1) {
      const control = document.createElement("div");
      control.className = "layer-control";
      control.style.left = `${columnX(c) + size / 2}px`;
      control.style.top = "4px";
      const minus = document.createElement("button"), plus = document.createElement("button"), text = document.createElement("span");
      minus.textContent = "\u2212"; plus.textContent = "+";
      minus.title = `fewer neurons in layer ${c}`; plus.title = `more neurons in layer ${c}`;
      const roomy = (right - left) / (layers.length - 1) > 90; // narrow columns: the buttons only
      text.textContent = roomy ? `${layers[c]} neuron${layers[c] === 1 ? "" : "s"}` : "";
      control.title = `${layers[c]} neurons in hidden layer ${c}`;
      minus.onclick = () => { const h = [...state.hidden]; if (h[c - 1] > 1) { h[c - 1] -= 1; change({ hidden: h }); } };
      plus.onclick = () => { const h = [...state.hidden]; if (h[c - 1] < limits.neurons) { h[c - 1] += 1; change({ hidden: h }); } };
      control.append(minus, plus, text);
      box.appendChild(control);
    }
  }
  // links: from enabled features (in order) and from every neuron to the next layer
  const sources = [state.features.map((f) => FEATURES.indexOf(f))];
  for (let c = 1; c < layers.length - 1; c++) sources.push([...Array(layers[c]).keys()]);
  for (let l = 0; l < layers.length - 1; l++) {
    sources[l].forEach((from, k) => {
      for (let j = 0; j < layers[l + 1]; j++) {
        const [x1, y1] = geometry.positions[l][from], [x2, y2] = geometry.positions[l + 1][j];
        const path = document.createElementNS("http://www.w3.org/2000/svg", "path");
        const a = [x1 + size, y1 + size / 2], b = [x2, y2 + size / 2], mid = (a[0] + b[0]) / 2;
        path.setAttribute("d", `M${a[0]},${a[1]} C${mid},${a[1]} ${mid},${b[1]} ${b[0]},${b[1]}`);
        path.id = `link-${l + 1}-${j}-${k}`;
        const entry = { path, layer: l, out: j, in: k, a, b, mid };
        path.onmouseenter = (e) => showLinkTip(entry, e);
        path.onmouseleave = () => { $("tooltip").hidden = true; };
        path.onclick = (e) => {
          const box = $("network").getBoundingClientRect();
          openEditor({ param: "weight", layer: l + 1, unit: j, input: k }, e.clientX - box.left + 8, e.clientY - box.top + 8);
        };
        svg.appendChild(path);
        if (!stripLinks[l]) stripLinks[l] = [];
        stripLinks[l].push(linkPaths.length);
        linkPaths.push(entry);
      }
    });
  }
  $("layer-count").textContent = `${state.hidden.length} hidden layer${state.hidden.length === 1 ? "" : "s"}`;
  if (selected && !$(`neuron-${selected[0]}-${selected[1]}`)) selected = null; // the server forgets it too
  drawNetworkSelection(); // draws the network's canvas (the features, the nodes' frames, the links known)
  if (frame) drawFrame(frame);
}
function makeNode([x, y], size, id) { // an unpainted box that catches the mouse: #network-canvas draws the node
  const node = document.createElement("div");
  node.className = "node";
  node.id = id;
  node.style.left = `${x}px`; node.style.top = `${y}px`;
  node.style.width = `${size}px`; node.style.height = `${size}px`;
  return node;
}
function featureMap(name) { // bytes over the plane, computed once per feature and extent
  const side = 25, extent = data ? data.extent : 6, key = `${name} ${extent}`;
  if (featureBytes[key]) return featureBytes[key];
  const values = [];
  for (let i = 0; i < side; i++) for (let j = 0; j < side; j++) {
    const x = -extent + (2 * extent * j) / (side - 1), y = extent - (2 * extent * i) / (side - 1);
    values.push(FEATURE_FN[name](x, y));
  }
  const top = Math.max(...values.map(Math.abs)) || 1;
  return (featureBytes[key] = Uint8Array.from(values, (v) => Math.round((v / top + 1) * 127.5)));
}
const featureTiles = {}; // each feature's map as a 25 x 25 canvas, scaled into its node on #network-canvas
function featureTile(name) {
  const extent = data ? data.extent : 6, key = `${name} ${extent}`;
  if (!featureTiles[key]) { featureTiles[key] = document.createElement("canvas"); paint(featureTiles[key], featureMap(name), 25, false); }
  return featureTiles[key];
}
function unhover() { if (hovered) { hovered = null; drawHeatmap(frame); } }

// ---- editing a weight or a bias (clicking a link or a neuron, as in Playground) ----------------------

function openEditor(target, x, y) {
  if (!frame) return;
  const value = target.param === "weight"
    ? frame.weights[target.layer - 1]?.[target.unit]?.[target.input] : frame.biases[target.layer - 1]?.[target.unit];
  if (value === undefined) return;
  editing = target;
  const box = $("editor"), input = $("editor-value");
  $("editor-label").textContent = target.param === "weight"
    ? `weight into neuron ${target.unit + 1} of layer ${target.layer}` : `bias of neuron ${target.unit + 1} of layer ${target.layer}`;
  input.value = String(value);
  box.style.left = `${Math.min(x, $("network").clientWidth - 200)}px`; box.style.top = `${y}px`;
  box.hidden = false;
  input.focus();
  input.select();
}
function hideEditor() { editing = null; $("editor").hidden = true; }
function submitEditor() {
  if (!editing) return;
  const text = $("editor-value").value.trim(), value = Number(text);
  if (text === "" || !Number.isFinite(value)) { showMessage(`${editing.param}: type a number, e.g. 0.5 (got '${text}')`); return; }
  send({ type: "edit", ...editing, value });
  hideEditor();
}
function drawNetworkSelection() { // the explained neuron: its node's class, and its outline on #network-canvas
  for (const node of document.querySelectorAll(".node.selected")) node.classList.remove("selected");
  if (selected) { const node = $(`neuron-${selected[0]}-${selected[1]}`); if (node) node.classList.add("selected"); }
  if (geometry) { drawBase(); drawMaps(frame, outputUnits()); }
}
let tipText = null; // what the visible tooltip says, from the newest frame: () => text
function showTip(text) {
  tipText = text;
  $("tooltip").textContent = text();
}
function refreshTip() { if (tipText && !$("tooltip").hidden) setText("tooltip", tipText()); }
function showLinkTip(entry, event) {
  if (!frame || !frame.weights[entry.layer]) return;
  const tip = $("tooltip");
  showTip(() => `weight ${(frame.weights[entry.layer]?.[entry.out]?.[entry.in] ?? 0).toFixed(3)} (click: edit it)`);
  const box = $("network").getBoundingClientRect();
  tip.style.left = `${event.clientX - box.left + 10}px`;
  tip.style.top = `${event.clientY - box.top + 10}px`;
  tip.hidden = false;
}
function showNodeTip(c, i) {
  if (!frame || !frame.biases[c - 1]) return;
  const tip = $("tooltip"), [x, y] = geometry.positions[c][i];
  showTip(() => `bias ${(frame.biases[c - 1]?.[i] ?? 0).toFixed(3)} (click: explain this neuron, edit its bias)`);
  tip.style.left = `${x}px`; tip.style.top = `${y + geometry.size + 4}px`;
  tip.hidden = false;
}

// ---- drawing a frame --------------------------------------------------------------------------------

function drawPending() {
  if (!pending) return;
  const f = pending;
  pending = null;
  // Acknowledge the frames now drawn (or skipped): the server trains ahead by at most two frames.
  for (; framesSinceDraw > 0; framesSinceDraw--) send({ type: "ack" });
  if (f.epoch === 0 || (history.length && f.epoch < history[history.length - 1][0])) history = [];
  const train = f.train_playground ?? f.train_loss, test = f.test_playground ?? f.test_loss;
  if (!history.length || f.epoch > history[history.length - 1][0]) history.push([f.epoch, train, test]);
  if (history.length > 2000) history = history.filter((_, i) => i % 2 === 0);
  if (f.message) { // the server stopped training on its own (a diverged loss): say why
    showMessage(f.message);
    if (!f.playing) setPlaying(false);
  }
  frame = f;
  const started = performance.now();
  drawFrame(f);
  stats.drawMs += performance.now() - started;
  stats.drawn += 1;
  stats.epoch = f.epoch;
}
function drawAll() { drawPoints(); if (frame) drawFrame(frame); }
function setText(id, text) { const node = $(id); if (node.textContent !== text) node.textContent = text; } // no restyle if same
let textsDue = 0; // performance.now() from which the numbers may be rewritten while playing
function drawFrame(f) {
  const k = outputUnits();
  // While playing, the epoch, the losses and their chart are redrawn ten times a second, not every frame:
  // a digit changing 60 times a second cannot be read, and each change makes the browser lay out and
  // repaint the page's text, and composite everything between the epoch counter and the heat map again.
  if (!f.playing || performance.now() >= textsDue) { drawTexts(f, k); drawChart(); textsDue = performance.now() + 100; }
  drawHeatmap(f);
  drawLinks(f, !f.playing); // paused: always the newest weights (before the maps: they are put over the links)
  drawMaps(f, k);
  refreshTip();
  if (f.explain || !$("explain").hidden) drawExplain(f.explain);
}
function drawTexts(f, k) {
  setText("epoch", String(f.epoch).padStart(6, "0").replace(/\B(?=(\d{3})+(?!\d))/g, ","));
  const pg = f.test_playground !== undefined && f.test_playground !== null;
  const fmt = (v) => (v === null || v === undefined ? "-" : v.toFixed(3));
  setText("test-loss", fmt(pg ? f.test_playground : f.test_loss));
  setText("train-loss", fmt(pg ? f.train_playground : f.train_loss));
  setText("accuracy", f.test_accuracy !== undefined
    ? `accuracy: test ${(100 * f.test_accuracy).toFixed(1)}%, training ${(100 * f.train_accuracy).toFixed(1)}%` : "");
  setText("loss-note", k > 1
    ? `cross-entropy of the softmax output (${k} classes; Playground has no loss for more than 2)`
    : data && data.problem === "regression"
      ? `Playground's loss = our mse / 2 (ours: test ${fmt(f.test_loss)}, training ${fmt(f.train_loss)})`
      : `Playground's loss = 2 \u00d7 our mse (ours: test ${fmt(f.test_loss)}, training ${fmt(f.train_loss)})`);
  const status = $("target-status"), className = f.target ? (f.target.met ? "met" : "unmet") : "";
  setText("target-status", !f.target ? ""
    : f.target.met ? `\u2713 under the target ${f.target.value}` : `target: under ${f.target.value}`);
  if (status.className !== className) status.className = className;
}
// #network-canvas holds the whole network: a copy of networkBase (white, the links, the features' maps,
// the nodes' frames; redrawn only when a link changes) and, every frame, each hidden neuron's map put into
// its node's square. One opaque canvas: the compositor copies one picture, not three layers blended.
const networkBase = document.createElement("canvas");
let networkStatic = null; // the features' maps and the nodes' frames over a transparent ground, once per network
let baseDirty = null; // [x0, x1): the columns of networkBase's pixels changed since it was last copied onto #network-canvas
let mapsImage = null; // #network-canvas's pixels for the nodes' squares, each put from here (putImageData)
function frameNode(ctx, x, y, size) {
  ctx.strokeStyle = "#999"; ctx.lineWidth = 1;
  ctx.beginPath(); ctx.roundRect(x + 0.5, y + 0.5, size - 1, size - 1, 3); ctx.stroke();
}
// The links from column l to column l + 1 lie in a strip of their own, between the two columns' squares:
// a changed link redraws its strip alone (clipped to it), which leaves there the pixels a whole redraw would.
function stripBounds(l) { // [x0, x1): networkBase's pixel columns of strip l
  const ratio = window.devicePixelRatio || 1, ox = geometry.origin[0], positions = geometry.positions;
  return [Math.floor((positions[l][0][0] + geometry.size - ox) * ratio), Math.ceil((positions[l + 1][0][0] - ox) * ratio)];
}
function drawBase(strip = -1) { // strip -1: the whole of networkBase
  const ctx = context2d(networkBase), ratio = window.devicePixelRatio || 1, [ox, oy] = geometry.origin;
  const size = geometry.size, columns = geometry.layers, last = columns.length - 1;
  const [from, to] = strip < 0 ? [0, networkBase.width] : stripBounds(strip);
  ctx.save();
  ctx.setTransform(1, 0, 0, 1, 0, 0);
  ctx.globalAlpha = 1;
  ctx.fillStyle = "#fff";
  ctx.fillRect(from, 0, to - from, networkBase.height);
  ctx.setTransform(ratio, 0, 0, ratio, -ox * ratio, -oy * ratio);
  for (const l of !linkKeys ? [] : strip < 0 ? stripLinks.keys() : [strip]) { // strip by strip: the same strokes
    const groups = new Map(); // one stroke per colour and width
    for (const n of stripLinks[l]) {
      const key = linkKeys[n];
      if (key >= 0) { if (!groups.has(key)) groups.set(key, []); groups.get(key).push(linkPaths[n]); }
    }
    for (const key of [...groups.keys()].sort((a, b) => (a % 32) - (b % 32) || a - b)) { // thin first, thick on top
      ctx.strokeStyle = scaleColour(Math.floor(key / 32) / 10 - 1);
      ctx.lineWidth = (key % 32) / 2;
      ctx.beginPath();
      for (const { a, b, mid } of groups.get(key)) { ctx.moveTo(a[0], a[1]); ctx.bezierCurveTo(mid, a[1], mid, b[1], b[0], b[1]); }
      ctx.stroke();
    }
  }
  if (!networkStatic) { // what changes only with the network: the features' maps, the nodes' frames
    networkStatic = document.createElement("canvas");
    networkStatic.width = networkBase.width; networkStatic.height = networkBase.height;
    const layer = context2d(networkStatic);
    layer.setTransform(ratio, 0, 0, ratio, -ox * ratio, -oy * ratio);
    layer.imageSmoothingEnabled = true;
    FEATURES.forEach((name, i) => { // a feature left out is faded
      const [x, y] = geometry.positions[0][i];
      layer.globalAlpha = state.features.includes(name) ? 1 : 0.25;
      layer.drawImage(featureTile(name), x + 1, y + 1, size - 2, size - 2);
      frameNode(layer, x, y, size);
    });
    layer.globalAlpha = 1;
    for (let c = 1; c < columns.length; c++) {
      for (let i = 0; i < columns[c]; i++) {
        const [x, y] = geometry.positions[c][i];
        if (c === last && columns[c] > 1) { // one output unit per class: its colour
          layer.fillStyle = CLASS_COLOURS[i % CLASS_COLOURS.length];
          layer.fillRect(x, y, size, size);
        }
        frameNode(layer, x, y, size);
      }
    }
  }
  ctx.setTransform(1, 0, 0, 1, 0, 0);
  // a strip's links stay in it (unclipped, they rasterise as in a whole redraw); what is drawn over them is clipped
  if (strip >= 0) { ctx.beginPath(); ctx.rect(from, 0, to - from, networkBase.height); ctx.clip(); }
  ctx.drawImage(networkStatic, 0, 0);
  ctx.setTransform(ratio, 0, 0, ratio, -ox * ratio, -oy * ratio);
  const [c, i] = selected || [];
  if (selected && geometry.positions[c] && geometry.positions[c][i]) { // the explained neuron
    const [x, y] = geometry.positions[c][i];
    ctx.strokeStyle = "#183d4e"; ctx.lineWidth = 3;
    ctx.beginPath(); ctx.roundRect(x - 1.5, y - 1.5, size + 3, size + 3, 4); ctx.stroke();
  }
  ctx.restore();
  baseDirty = baseDirty ? [Math.min(baseDirty[0], from), Math.max(baseDirty[1], to)] : [from, to];
}
function drawMaps(f, k) {
  // Every hidden neuron's map comes in one byte string and is written, scaled to its node, into one
  // image; each node's square is put from it (putImageData), inside a frame as the nodes' border.
  const canvas = $("network-canvas"), ctx = opaque2d(canvas), ratio = window.devicePixelRatio || 1;
  const width = canvas.width, height = canvas.height, [ox, oy] = geometry.origin;
  if (baseDirty) { // the columns of networkBase that changed (the nodes' squares are put below)
    const [x0, x1] = baseDirty;
    ctx.drawImage(networkBase, x0, 0, x1 - x0, height, x0, 0, x1 - x0, height);
    baseDirty = null;
  }
  if (!mapsImage || mapsImage.width !== width || mapsImage.height !== height) mapsImage = new ImageData(width, height);
  const pixels = new Uint32Array(mapsImage.data.buffer); // a pixel per word: one store each
  neuronBytes = f && f.neurons ? f.neurons : new Uint8Array(0);
  const side = data ? data.neuron_grid : 25, size = Math.round(geometry.size * ratio), columns = geometry.layers;
  const edge = Math.max(1, Math.round(ratio)), columnOf = new Int32Array(size);
  const put = (bytes, offset, n, c, i, discretize) => { // map of n x n bytes -> node i of column c
    const x0 = Math.round((geometry.positions[c][i][0] - ox) * ratio), y0 = Math.round((geometry.positions[c][i][1] - oy) * ratio);
    const w = Math.min(size, width - x0), h = Math.min(size, height - y0), colours = discretize ? 256 : 0;
    if (x0 < 0 || y0 < 0 || w <= 0 || h <= 0) return;
    for (let px = 0; px < size; px++) columnOf[px] = Math.floor((px * n) / size);
    for (let py = 0; py < h; py++) {
      const row = offset + Math.floor((py * n) / size) * n, at = (y0 + py) * width + x0;
      if (py < edge || py >= size - edge) { // the top and bottom of the frame, #999; its corners show the map
        for (let px = 0; px < w; px++) pixels[at + px] = px < edge || px >= size - edge ? PIXEL[colours + bytes[row + columnOf[px]]] : PIXEL[512];
        continue;
      }
      for (let px = 0; px < edge && px < w; px++) pixels[at + px] = PIXEL[512];
      const inner = Math.min(w, size - edge);
      for (let px = edge; px < inner; px++) pixels[at + px] = PIXEL[colours + bytes[row + columnOf[px]]];
      for (let px = size - edge; px < w; px++) pixels[at + px] = PIXEL[512];
    }
    ctx.putImageData(mapsImage, 0, 0, x0, y0, w, h);
  };
  let offset = 0;
  for (let c = 1; c < columns.length - 1; c++) {
    for (let i = 0; i < columns[c] && offset + side * side <= neuronBytes.length; i++, offset += side * side) {
      put(neuronBytes, offset, side, c, i, false);
    }
  }
  const last = columns.length - 1;
  if (f && k === 1 && geometry.positions[last]) put(f.output, 0, data ? data.grid : 50, last, 0, state.discretize);
}
function hoveredMap(c, i) { // bytes and side of the map under the mouse, or null
  if (c === 0) return { bytes: featureMap(FEATURES[i]), side: 25 };
  const side = data ? data.neuron_grid : 25, columns = geometry ? geometry.layers : [];
  let offset = 0;
  for (let l = 1; l < c; l++) offset += columns[l] * side * side;
  offset += i * side * side;
  if (!neuronBytes || offset + side * side > neuronBytes.length) return null;
  return { bytes: neuronBytes.subarray(offset, offset + side * side), side };
}
let linksDue = 0; // performance.now() from which the links may be redrawn
let nextStrip = 0; // while playing, the changed strips of links are redrawn in turn, from this one
function drawLinks(f, force = false) {
  // Colour by sign, width by magnitude, both quantised; a strip of networkBase is redrawn only when one of
  // its links changed and, while playing, one strip a frame at most a tenth of the time: rasterising links
  // takes the browser long (task 10's 384 links ~10 ms, the 10 x 32 network's 9,472 far longer than a
  // frame), so the links follow a strip at a time, without a frame that misses the screen's refresh, while
  // the maps and the output follow every frame. Paused: every changed strip at once.
  if (!force && performance.now() < linksDue) return;
  const most = Math.max(1, Math.min(8, geometry.size / 4)); // thin links between small nodes
  const keys = new Int16Array(linkPaths.length);
  for (let n = 0; n < linkPaths.length; n++) {
    const entry = linkPaths[n], row = f.weights[entry.layer] && f.weights[entry.layer][entry.out];
    const w = row ? row[entry.in] : undefined;
    if (w === undefined) { keys[n] = -1; continue; }
    const colour = Math.round((Math.max(-1, Math.min(1, w * 2)) + 1) * 10); // 0..20
    const width = Math.round(Math.min(most, 0.5 + Math.abs(w) * 2) * 2); // half-pixel steps, 1..16
    keys[n] = colour * 32 + width;
  }
  const started = performance.now();
  if (!linkKeys || linkKeys.length !== keys.length) {
    linkKeys = keys;
    drawBase();
    stats.linkStrips += stripLinks.length;
  } else {
    const count = stripLinks.length, changed = [];
    for (let s = 0; s < count; s++) {
      const l = (nextStrip + s) % count;
      if (stripLinks[l].some((n) => keys[n] !== linkKeys[n])) changed.push(l);
    }
    if (!changed.length) return;
    for (const l of force ? changed : changed.slice(0, 1)) {
      for (const n of stripLinks[l]) linkKeys[n] = keys[n];
      drawBase(l);
      stats.linkStrips += 1;
      nextStrip = (l + 1) % count;
    }
  }
  context2d(networkBase).getImageData(0, 0, 1, 1); // rasterise now, to time it (a CPU canvas: cheap to read)
  const now = performance.now();
  linksDue = now + 9 * (now - started);
}
function drawHeatmap(f) {
  if (!f) return;
  const canvas = $("heatmap"), ctx = opaque2d(canvas), side = data ? data.grid : 50;
  const map = hovered ? hoveredMap(...hovered) : null;
  if (map) paint(heatTile, map.bytes, map.side, false); // a neuron's or a feature's map, as in Playground
  else if (f.confidence) paintClasses(heatTile, f.output, f.confidence, side, state.discretize);
  else paint(heatTile, f.output, side, state.discretize);
  ctx.imageSmoothingEnabled = true;
  ctx.drawImage(heatTile, 0, 0, canvas.width, canvas.height);
  if (!pointsLayer) pointsLayer = drawPointsLayer(canvas.width);
  ctx.drawImage(pointsLayer, 0, 0);
  const shows = !map ? "output" : hovered[0] ? `neuron ${hovered[0]}-${hovered[1]}` : `feature ${FEATURES[hovered[1]]}`;
  if (canvas.dataset.shows !== shows) canvas.dataset.shows = shows; // for the tests: what the large map shows
}
const heatTile = document.createElement("canvas");
function drawPointsLayer(size) { // the points and the axes: drawn once per data set (and show-test setting)
  const layer = document.createElement("canvas");
  layer.width = layer.height = size;
  const ctx = context2d(layer);
  drawPointsOn(ctx, size);
  drawAxes(ctx, size);
  return layer;
}
function drawPoints() {
  pointsLayer = null;
  if (frame) drawHeatmap(frame);
}
function pointColour(label) {
  if (!data) return "#000";
  if (data.problem === "regression") return scaleColour(label);
  if (data.classes.length === 2) return label >= 1 ? "#0877bd" : "#f59322";
  return CLASS_COLOURS[label % CLASS_COLOURS.length];
}
function drawPointsOn(ctx, size) {
  if (!data) return;
  const e = data.extent, px = (v) => ((v + e) / (2 * e)) * size, py = (v) => ((e - v) / (2 * e)) * size;
  const sets = [[data.train, "#fff"]];
  if (state.show_test) sets.push([data.test, "#000"]);
  for (const [points, stroke] of sets) {
    for (const [x, y, label] of points) {
      ctx.beginPath();
      ctx.arc(px(x), py(y), 3, 0, 2 * Math.PI);
      ctx.fillStyle = pointColour(label);
      ctx.fill();
      ctx.lineWidth = 1;
      ctx.strokeStyle = stroke;
      ctx.stroke();
    }
  }
}
function drawAxes(ctx, size) {
  if (!data) return;
  const e = data.extent;
  ctx.fillStyle = "#333";
  ctx.font = "10px sans-serif";
  for (const t of [-e, -e / 2, 0, e / 2, e]) {
    const p = ((t + e) / (2 * e)) * size, label = Number(t.toPrecision(2)).toString();
    ctx.fillText(label, Math.min(size - 16, Math.max(1, p - 6)), size - 2);
    if (t !== -e) ctx.fillText(label, 1, Math.max(10, size - p + 3));
  }
}
function drawLegend() { // under the heat map; changes with the data only
  if (!data) return;
  const legend = $("legend");
  if (data.problem === "classification" && data.classes.length > 2) {
    legend.innerHTML = "";
    data.classes.forEach((c, i) => { // styles through the DOM: the page's CSP refuses inline style attributes
      const item = document.createElement("span"), swatch = document.createElement("span");
      swatch.className = "swatch";
      swatch.style.background = CLASS_COLOURS[i % CLASS_COLOURS.length];
      item.append(swatch, `class ${c}`);
      legend.append(item, " ");
    });
  } else {
    const [lo, hi] = data.problem === "regression" ? ["\u22121", "+1"] : [`\u22121 (${escapeHtml(data.classes[0] || "")})`, `+1 (${escapeHtml(data.classes[1] || "")})`];
    legend.innerHTML = `<span>${lo}</span><span class="bar"></span><span>${hi}</span><span class="hint">white points: training, black: test</span>`;
  }
}
function escapeHtml(text) {
  return String(text).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}
function drawChart() {
  const canvas = $("chart"), ctx = opaque2d(canvas), w = canvas.width, h = canvas.height;
  ctx.fillStyle = "#fff";
  ctx.fillRect(0, 0, w, h);
  const values = history.flatMap(([, a, b]) => [a, b]).filter((v) => v !== null && Number.isFinite(v));
  const top = Math.max(0.05, ...values);
  const left = 34, bottom = h - 14, width = w - left - 6;
  ctx.strokeStyle = "#bbb"; ctx.lineWidth = 1;
  ctx.beginPath(); ctx.moveTo(left, 4); ctx.lineTo(left, bottom); ctx.lineTo(w - 4, bottom); ctx.stroke();
  ctx.fillStyle = "#444"; ctx.font = "10px sans-serif";
  ctx.fillText(top.toFixed(2), 2, 12); ctx.fillText("0", 24, bottom);
  const last = history.length ? history[history.length - 1][0] : 0;
  ctx.fillText(`epoch ${last}`, w - 70, h - 2);
  ctx.fillText("loss", 2, bottom / 2 + 4);
  const series = [[1, "#999", "training"], [2, "#000", "test"]];
  if (history.length > 1) {
    const first = history[0][0], span = Math.max(1, last - first);
    for (const [index, colour] of series) {
      ctx.strokeStyle = colour; ctx.lineWidth = 1.5; ctx.beginPath();
      let started = false;
      for (const row of history) {
        if (row[index] === null) continue;
        const x = left + ((row[0] - first) / span) * width, y = bottom - (Math.min(row[index], top) / top) * (bottom - 6);
        if (started) ctx.lineTo(x, y); else { ctx.moveTo(x, y); started = true; }
      }
      ctx.stroke();
    }
  }
  series.forEach(([, colour, name], i) => { ctx.fillStyle = colour; ctx.fillText(`\u2014 ${name}`, w - 150 + i * 70, 12); });
}

// ---- the neuron explanation -------------------------------------------------------------------------

function drawExplain(x) {
  const panel = $("explain");
  if (!x || !selected) { panel.hidden = true; return; }
  panel.hidden = false;
  const where = x.output_layer ? "the output layer" : `hidden layer ${x.layer}`;
  $("explain-title").textContent = `neuron ${x.unit + 1} of ${where} (${x.activation})`;
  const n = (v) => (Math.abs(v) >= 1e-3 || v === 0 ? v.toFixed(4) : v.toExponential(2));
  const inputs = x.inputs.map((name, i) => `<tr><td>${escapeHtml(FEATURE_LABELS[name] || name)}</td><td>${n(x.weights[i])}</td><td>${n(x.delta_w[i])}</td></tr>`).join("");
  const shown = Math.min(x.inputs.length, 4);
  const head = x.inputs.slice(0, shown).map((name) => `<th>${escapeHtml(FEATURE_LABELS[name] || name)}</th>`).join("");
  const rows = x.e.map((e, r) => `<tr><td>${r + 1}</td>${x.x[r].slice(0, shown).map((v) => `<td>${n(v)}</td>`).join("")}<td>${n(e)}</td><td>${n(x.y[r])}</td><td>${n(x.d[r])}</td></tr>`).join("");
  $("explain-body").innerHTML = `
    <p>On the next training batch (step ${x.step} of the epoch, ${x.batch_size} points), with the current weights:
      weighted sum <b>e = &Sigma; w<sub>i</sub> x<sub>i</sub> + b</b>, output <b>y = f(e)</b>,
      error signal <b>d = &part;L/&part;e</b> (backpropagated from the loss), and the update
      <b>&Delta;w<sub>i</sub> = &minus;&eta; &Sigma;<sub>batch</sub> d x<sub>i</sub></b> with &eta; = ${x.lr}.
      In the lecture's backprop pictures (after Mazur's worked example) w&prime; = w + &eta; &delta; f&prime;(e) x: here &delta; f&prime;(e) = &minus;d.</p>
    <table><tr><th>incoming from</th><th>w</th><th>&Delta;w this step</th></tr>${inputs}
      <tr><td>bias</td><td>${n(x.bias)}</td><td>${n(x.delta_b)}</td></tr></table>
    <table><tr><th>point</th>${head}${shown < x.inputs.length ? "" : ""}<th>e</th><th>y = f(e)</th><th>d</th></tr>${rows}</table>
    ${shown < x.inputs.length ? `<p class="hint">(first ${shown} of ${x.inputs.length} inputs shown)</p>` : ""}`;
}

// ---- export -----------------------------------------------------------------------------------------

function showExport(x) {
  $("export-panel").hidden = false;
  $("export-spec").textContent = x.spec;
  const links = $("export-links");
  links.innerHTML = "";
  const bytes = decode(x.weights);
  const files = [[`${x.name}.safetensors`, new Blob([bytes], { type: "application/octet-stream" })],
    [`${x.name}.py`, new Blob([x.python], { type: "text/x-python" })]];
  if (x.config) files.splice(1, 0, [`${x.name}.toml`, new Blob([x.config], { type: "application/toml" })]);
  for (const [name, blob] of files) {
    const a = document.createElement("a");
    a.href = URL.createObjectURL(blob);
    a.download = name;
    a.textContent = `download ${name}`;
    a.className = "download";
    links.append(a, document.createElement("br"));
  }
  $("export-command").textContent = x.command
    ? `${x.command}\n(continues training the exported weights: keep the .toml and .safetensors files side by side)`
    : "Uploaded data is not a layerlab data set: continue with the Python snippet (the points travel in the weights file).";
  $("export-python").textContent = x.python;
}

// ---- start ------------------------------------------------------------------------------------------

async function start() {
  setupControls();
  setupDatasets();
  try {
    const response = await fetch("/api/tasks");
    const body = await response.json();
    tasks = body.tasks;
    limits = body.limits;
    for (const [n, task] of Object.entries(tasks)) {
      const option = document.createElement("option");
      option.value = n;
      option.textContent = task.title;
      $("task").appendChild(option);
    }
  } catch (error) {
    showMessage(`could not load the task presets: ${error}`);
  }
  state = readHash();
  syncControls();
  buildNetwork();
  connect();
}
window.addEventListener("DOMContentLoaded", start);
