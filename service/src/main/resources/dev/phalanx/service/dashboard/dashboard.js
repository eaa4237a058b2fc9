// Phalanx dashboard: plain browser JavaScript, served by Phalanx (no build step, no CDN).
// Every API call carries the bearer token; the event stream is read with fetch() so that it
// can carry it too (EventSource cannot send headers).
'use strict';

const $ = (id) => document.getElementById(id);
const state = { selected: null, stream: null, loss: [], accuracy: [], classes: [], samplesUrl: null };

// the token: from the address's #token=..., else what this browser kept
(function initToken() {
  const m = location.hash.match(/token=([^&]+)/);
  if (m) { localStorage.setItem('phalanx-token', decodeURIComponent(m[1])); history.replaceState(null, '', location.pathname); }
  $('token').value = localStorage.getItem('phalanx-token') || '';
  $('token').addEventListener('change', () => { localStorage.setItem('phalanx-token', $('token').value.trim()); refresh(); });
})();

function api(path, options = {}) {
  options.headers = Object.assign({ 'Authorization': 'Bearer ' + $('token').value.trim() }, options.headers || {});
  return fetch(path, options);
}

async function problem(resp) {
  try { return (await resp.json()).error || resp.statusText; } catch (e) { return resp.status + ' ' + resp.statusText; }
}

const fmt = (v, d = 3) => (v === null || v === undefined || Number.isNaN(v)) ? '' : Number(v).toFixed(d);

// ---- the run list ----------------------------------------------------------------------------
async function refresh() {
  const resp = await api('/api/runs');
  if (!resp.ok) { $('runs').innerHTML = '<tr><td colspan="5" class="muted">' + escapeHtml(await problem(resp)) + '</td></tr>'; return; }
  const runs = await resp.json();
  const body = $('runs');
  body.innerHTML = '';
  for (const r of runs.slice().reverse()) {
    const tr = document.createElement('tr');
    tr.dataset.id = r.id;
    if (r.id === state.selected) tr.className = 'selected';
    tr.innerHTML = `<td>${r.id}</td><td><span class="state ${r.state}">${r.state}</span></td><td>${r.step}</td>`
      + `<td>${fmt(r.loss)}</td><td>${fmt(r.accuracy, 1)}</td>`;
    tr.addEventListener('click', () => select(r.id));
    body.appendChild(tr);
    if (r.id === state.selected) showRun(r);
  }
}

function showRun(r) {
  $('title').textContent = r.id + ' (' + r.state + ')';
  $('stop').disabled = !(r.state === 'running' || r.state === 'queued');
  $('resume').disabled = !(r.state === 'stopped' || r.state === 'failed');
  $('download-weights').disabled = r.state !== 'finished';
  $('download-csv').disabled = r.state === 'queued' && r.step === 0;
  $('stats').innerHTML = [['step', r.step], ['epoch', r.epoch], ['loss', fmt(r.loss)], ['test accuracy', fmt(r.accuracy, 2) + (r.accuracy != null ? ' %' : '')],
    ['images/s', fmt(r.imagesPerSecond, 0)], ['replicas', r.replicas]].map(([k, v]) => `<div><span class="muted">${k}</span><b>${v}</b></div>`).join('');
  $('run-error').textContent = r.error || '';
}

// ---- one run: its event stream -------------------------------------------------------------
function select(id) {
  if (state.stream) state.stream.abort();
  state.selected = id;
  state.loss = [];
  state.accuracy = [];
  draw();
  $('samples').innerHTML = '<span class="muted">after the first epoch\'s evaluation</span>';
  $('per-class').innerHTML = '';
  $('confusion').innerHTML = '';
  refresh();
  follow(id);
}

async function follow(id) {
  const controller = new AbortController();
  state.stream = controller;
  let resp;
  try {
    resp = await api('/api/runs/' + id + '/events', { signal: controller.signal, headers: { 'Accept': 'text/event-stream' } });
  } catch (e) { return; }
  if (!resp.ok) { $('run-error').textContent = await problem(resp); return; }
  const reader = resp.body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let end;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const data = block.split('\n').filter((l) => l.startsWith('data:')).map((l) => l.slice(5).trim()).join('\n');
        if (data && state.selected === id) onEvent(JSON.parse(data));
      }
    }
  } catch (e) { /* aborted: another run was picked */ }
  if (state.selected === id && state.stream === controller) setTimeout(refresh, 200);
}

function onEvent(e) {
  if (e.type === 'metrics') {
    state.loss.push([e.step, e.loss]);
  } else if (e.type === 'epoch') {
    state.accuracy.push([e.step, e.accuracy]);
    if (e.confusion) showEvaluation(e);
  } else if (e.type === 'resumed') {
    // an interrupted attempt's points after the checkpoint are gone, as in metrics.csv
    state.loss = state.loss.filter((p) => p[0] <= e.step);
    state.accuracy = state.accuracy.filter((p) => p[0] <= e.step);
  } else if (e.type === 'state') {
    refresh();
  }
  draw();
}

// ---- curves (SVG) ----------------------------------------------------------------------------
function draw() {
  chart($('loss-curve'), state.loss, 'step', 'loss');
  chart($('accuracy-curve'), state.accuracy, 'step', '%');
}

function chart(svg, points, xLabel, yLabel) {
  const W = 460, H = 220, L = 46, R = 10, T = 10, B = 28;
  if (points.length === 0) { svg.innerHTML = `<text x="${W / 2}" y="${H / 2}" text-anchor="middle">no points yet</text>`; return; }
  const xs = points.map((p) => p[0]), ys = points.map((p) => p[1]);
  const x0 = Math.min(...xs, 0), x1 = Math.max(...xs, 1);
  let y0 = Math.min(...ys), y1 = Math.max(...ys);
  if (y1 - y0 < 1e-9) { y0 -= 0.5; y1 += 0.5; }
  const sx = (x) => L + (x - x0) / (x1 - x0) * (W - L - R);
  const sy = (y) => T + (1 - (y - y0) / (y1 - y0)) * (H - T - B);
  const d = points.map((p, i) => (i ? 'L' : 'M') + sx(p[0]).toFixed(1) + ',' + sy(p[1]).toFixed(1)).join(' ');
  const dots = points.length < 40 ? points.map((p) => `<circle cx="${sx(p[0]).toFixed(1)}" cy="${sy(p[1]).toFixed(1)}" r="2.5" fill="#1f77b4"/>`).join('') : '';
  svg.innerHTML = `<line class="axis" x1="${L}" y1="${H - B}" x2="${W - R}" y2="${H - B}"/>`
    + `<line class="axis" x1="${L}" y1="${T}" x2="${L}" y2="${H - B}"/>`
    + `<text x="${L - 4}" y="${T + 8}" text-anchor="end">${fmt(y1, 2)}</text>`
    + `<text x="${L - 4}" y="${H - B}" text-anchor="end">${fmt(y0, 2)}</text>`
    + `<text x="${L}" y="${H - 8}">${x0}</text><text x="${W - R}" y="${H - 8}" text-anchor="end">${xLabel} ${x1}</text>`
    + `<text x="${L + 4}" y="${T + 20}">${yLabel}</text>`
    + `<path class="line" d="${d}"/>` + dots;
}

// ---- evaluation: image grid, per-class accuracy, confusion matrix --------------------------
async function showEvaluation(e) {
  const classes = e.classes;
  $('per-class').innerHTML = classes.map((c, i) => `<tr><td>${escapeHtml(c)}</td><td style="width:50%"><div class="bar" style="width:${e.perClass[i]}%"></div></td>`
    + `<td>${fmt(e.perClass[i], 1)} %</td></tr>`).join('');
  let max = 1;
  for (const row of e.confusion) for (const v of row) max = Math.max(max, v);
  $('confusion').innerHTML = '<tr><td></td>' + classes.map((c, j) => `<td title="${escapeHtml(c)}">${j}</td>`).join('') + '</tr>'
    + e.confusion.map((row, i) => `<tr><td title="${escapeHtml(classes[i])}">${i} ${escapeHtml(classes[i].slice(0, 10))}</td>`
      + row.map((v, j) => `<td style="background: rgba(${i === j ? '44,160,44' : '214,39,40'},${(v / max).toFixed(2)})">${v}</td>`).join('') + '</tr>').join('');

  const resp = await api('/api/runs/' + state.selected + '/samples.png');
  if (!resp.ok) { $('samples').textContent = e.samplesError || await problem(resp); return; }
  if (state.samplesUrl) URL.revokeObjectURL(state.samplesUrl);
  state.samplesUrl = URL.createObjectURL(await resp.blob());
  const img = new Image();
  img.onload = () => {
    // samples.png is make_grid's layout: 8 per row, 2 pixels of padding; each cell is cut out and drawn 2x
    const per = 8, pad = 2, scale = 2, cell = (img.naturalWidth - pad) / Math.min(per, e.samples.length) - pad;
    $('samples').innerHTML = e.samples.map((s, i) => {
      const x = pad + (i % per) * (cell + pad), y = pad + Math.floor(i / per) * (cell + pad);
      const wrong = s.label !== s.predicted;
      return `<div class="sample${wrong ? ' wrong' : ''}"><div class="img" style="width:${cell * scale}px;height:${cell * scale}px;`
        + `background-image:url(${state.samplesUrl});background-size:${img.naturalWidth * scale}px ${img.naturalHeight * scale}px;`
        + `background-position:-${x * scale}px -${y * scale}px"></div>`
        + `<div>${escapeHtml(classes[s.label])}</div><div class="pred">${escapeHtml(classes[s.predicted])}</div></div>`;
    }).join('');
  };
  img.src = state.samplesUrl;
}

function escapeHtml(s) {
  return String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));
}

// ---- buttons ---------------------------------------------------------------------------------
$('start').addEventListener('click', async () => {
  $('error').textContent = '';
  let overrides;
  try { overrides = JSON.parse($('overrides').value || '{}'); } catch (e) { $('error').textContent = 'overrides: ' + e.message; return; }
  const resp = await api('/api/runs', { method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ recipe: $('recipe').value, overrides }) });
  if (!resp.ok) { $('error').textContent = await problem(resp); return; }
  select((await resp.json()).id);
});

for (const action of ['stop', 'resume']) {
  $(action).addEventListener('click', async () => {
    const id = state.selected;
    const resp = await api('/api/runs/' + id + '/' + action, { method: 'POST' });
    if (!resp.ok) { $('run-error').textContent = await problem(resp); return; }
    if (action === 'resume') select(id); else refresh();
  });
}

async function download(name) {
  const resp = await api('/api/runs/' + state.selected + '/' + name);
  if (!resp.ok) { $('run-error').textContent = await problem(resp); return; }
  const a = document.createElement('a');
  a.href = URL.createObjectURL(await resp.blob());
  a.download = state.selected + '-' + name;
  a.click();
}
$('download-weights').addEventListener('click', () => download('model.safetensors'));
$('download-csv').addEventListener('click', () => download('metrics.csv'));

draw();
refresh();
setInterval(refresh, 2000);
