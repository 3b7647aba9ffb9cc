/**
 * The dashboard: one self-contained HTML page (no external script, style or font) polling `/api/stats` every
 * second and drawing its charts on canvas: hit rate per layer, HTTP latency percentiles, requests per second,
 * worker-pool utilization, the Redis in use (client library, topology: one Redis or a Sentinel master), the recent invalidations, the last product update's invalidation per layer (mode, latency,
 * result; and the bus latency to each other instance's L1) and circuit-breaker changes.
 */
export const dashboardHtml: string = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>tierkit demo</title>
<style>
  :root { --bg:#0f172a; --panel:#111c33; --text:#e2e8f0; --muted:#94a3b8; --grid:#1e293b; }
  * { box-sizing: border-box; }
  body { margin:0; font:14px/1.4 system-ui, sans-serif; background:var(--bg); color:var(--text); }
  header { padding:12px 20px; display:flex; gap:24px; align-items:baseline; flex-wrap:wrap; border-bottom:1px solid var(--grid); }
  header h1 { font-size:18px; margin:0; }
  .kpi { color:var(--muted); } .kpi b { color:var(--text); font-size:16px; }
  main { display:grid; grid-template-columns:repeat(auto-fit, minmax(420px, 1fr)); gap:14px; padding:14px 20px; }
  section { background:var(--panel); border-radius:8px; padding:10px 12px; }
  section h2 { font-size:13px; margin:0 0 6px; color:var(--muted); font-weight:600; text-transform:uppercase; letter-spacing:.04em; }
  canvas { width:100%; height:180px; display:block; }
  .legend span { margin-right:12px; font-size:12px; } .legend i { display:inline-block; width:10px; height:10px; border-radius:2px; margin-right:4px; }
  table { width:100%; border-collapse:collapse; font-size:12px; } td, th { text-align:left; padding:3px 6px; border-bottom:1px solid var(--grid); }
  .ok { color:#4ade80; } .bad { color:#f87171; } .warn { color:#fbbf24; }
</style>
</head>
<body>
<header>
  <h1>tierkit demo</h1>
  <span class="kpi">instance <b id="instance">…</b></span>
  <span class="kpi">database <b id="database">…</b></span>
  <span class="kpi">redis <b id="redis">…</b></span>
  <span class="kpi">req/s <b id="rps-value">0</b></span>
  <span class="kpi">requests <b id="requests-value">0</b></span>
  <span class="kpi">L1 hit rate <b id="l1-hit-value">—</b></span>
  <span class="kpi">p99 <b id="p99-value">—</b></span>
</header>
<main>
  <section><h2>Hit rate per layer (per second)</h2><div class="legend" id="hit-legend"></div><canvas id="hit-chart"></canvas></section>
  <section><h2>HTTP latency percentiles (ms)</h2><div class="legend" id="lat-legend"></div><canvas id="latency-chart"></canvas></section>
  <section><h2>Requests per second</h2><canvas id="rps-chart"></canvas></section>
  <section><h2>Worker-pool utilization</h2><div class="legend"><span>threads <b id="pool-threads">0</b></span><span>running <b id="pool-running">0</b></span><span>queued <b id="pool-queued">0</b></span><span>reports done <b id="pool-completed">0</b></span></div><canvas id="pool-chart"></canvas></section>
  <section><h2>Layers (cumulative)</h2><table id="layers"><thead><tr><th>Layer</th><th>Hit rate</th><th>Hits</th><th>Misses</th><th>Avg</th><th>p99</th></tr></thead><tbody></tbody></table></section>
  <section><h2>Recent invalidations</h2><table id="invalidations"><thead><tr><th>Time</th><th>Kind</th><th>Keys / tags</th><th>From</th></tr></thead><tbody></tbody></table><h2 style="margin-top:10px">Last invalidation <span id="last-inv-what" style="text-transform:none"></span></h2><table id="last-invalidation"><thead><tr><th>Layer</th><th>Mode</th><th>Latency</th><th>Result</th></tr></thead><tbody></tbody></table><h2 style="margin-top:10px">Circuit breaker</h2><div id="circuit">closed</div></section>
</main>
<script>
(() => {
  const N = 120
  const COLORS = { cdn: '#a78bfa', l1: '#4ade80', l2: '#38bdf8', db: '#f87171', p50: '#4ade80', p95: '#fbbf24', p99: '#f87171', rps: '#38bdf8', pool: '#a78bfa' }
  const series = { cdn: [], l1: [], l2: [], db: [], p50: [], p95: [], p99: [], rps: [], pool: [] }
  let prev
  const push = (k, v) => { series[k].push(v); if (series[k].length > N) series[k].shift() }
  const fmtPct = (v) => v == null ? '—' : (v * 100).toFixed(1) + '%'
  const fmtMs = (v) => v == null ? '—' : (v < 1 ? v.toFixed(3) : v.toFixed(1)) + ' ms'
  const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c])
  function legend(id, keys) { document.getElementById(id).innerHTML = keys.map((k) => '<span><i style="background:' + COLORS[k] + '"></i>' + k + '</span>').join('') }
  legend('hit-legend', ['cdn', 'l1', 'l2', 'db']); legend('lat-legend', ['p50', 'p95', 'p99'])
  function draw(id, keys, opts) {
    const c = document.getElementById(id)
    const dpr = window.devicePixelRatio || 1
    const w = c.clientWidth, h = c.clientHeight
    if (c.width !== w * dpr) { c.width = w * dpr; c.height = h * dpr }
    const g = c.getContext('2d'); g.setTransform(dpr, 0, 0, dpr, 0, 0); g.clearRect(0, 0, w, h)
    let max = opts.max
    if (max === undefined) { max = 0; for (const k of keys) for (const v of series[k]) if (v != null && v > max) max = v; max = max > 0 ? max * 1.15 : 1 }
    g.strokeStyle = '#1e293b'; g.fillStyle = '#94a3b8'; g.font = '11px system-ui'; g.lineWidth = 1
    for (let i = 0; i <= 4; i++) { const y = 6 + (h - 12) * i / 4; g.beginPath(); g.moveTo(36, y); g.lineTo(w, y); g.stroke(); g.fillText(opts.fmt(max * (1 - i / 4)), 0, y + 4) }
    for (const k of keys) {
      g.strokeStyle = COLORS[k]; g.lineWidth = 2; g.beginPath(); let started = false
      series[k].forEach((v, i) => { if (v == null) { started = false; return } const x = 36 + (w - 36) * i / (N - 1), y = 6 + (h - 12) * (1 - v / max); if (started) g.lineTo(x, y); else { g.moveTo(x, y); started = true } })
      g.stroke()
    }
  }
  async function tick() {
    let s
    try { const r = await fetch('/api/stats', { cache: 'no-store' }); s = await r.json() } catch { return }
    document.getElementById('instance').textContent = s.instanceId
    document.getElementById('database').textContent = s.database
    const br = s.redis.breaker
    const where = s.redis.topology === 'sentinel' ? 'sentinel · master ' + esc(s.redis.master) : esc(s.redis.topology)
    document.getElementById('redis').innerHTML = s.redis.mode === 'none' ? '<span class="warn">none (L1 only)</span>' : '<span id="redis-client">' + esc(s.redis.client) + '</span> · <span id="redis-topology">' + where + '</span> · ' + esc(s.redis.mode) + ' · circuit <span class="' + (br === 'closed' ? 'ok' : 'bad') + '">' + esc(br) + '</span>'
    if (prev) {
      const dt = Math.max(0.001, (s.now - prev.now) / 1000)
      const rps = (s.http.requests - prev.http.requests) / dt
      push('rps', rps); document.getElementById('rps-value').textContent = rps.toFixed(0)
      for (const k of ['cdn', 'l1', 'l2', 'db']) {
        const a = s.layers[k], b = prev.layers[k]
        if (k === 'db') { const loads = a.hits - b.hits; const total = (s.layers.l1.hits + s.layers.l1.misses) - (prev.layers.l1.hits + prev.layers.l1.misses); push('db', total > 0 ? loads / total : null); continue }
        const lookups = (a.hits + a.misses) - (b.hits + b.misses)
        push(k, lookups > 0 ? (a.hits - b.hits) / lookups : null)
      }
      // the worker-pool README's live utilization: busy thread time over (uptime x maxThreads) between two snapshots
      const busy = s.pool.busyTime - prev.pool.busyTime, up = s.pool.uptime - prev.pool.uptime
      push('pool', up > 0 ? Math.min(1, Math.max(0, busy / (up * s.pool.maxThreads))) : null)
    }
    push('p50', s.http.p50Ms); push('p95', s.http.p95Ms); push('p99', s.http.p99Ms)
    document.getElementById('requests-value').textContent = s.http.requests
    document.getElementById('l1-hit-value').textContent = fmtPct(s.layers.l1.hitRate)
    document.getElementById('p99-value').textContent = fmtMs(s.http.p99Ms)
    for (const k of ['threads', 'running', 'queued', 'completed']) document.getElementById('pool-' + k).textContent = s.pool[k]
    document.querySelector('#layers tbody').innerHTML = ['cdn', 'l1', 'l2', 'db'].map((k) => { const l = s.layers[k]; return '<tr><td>' + k + '</td><td>' + fmtPct(l.hitRate) + '</td><td>' + l.hits + '</td><td>' + l.misses + '</td><td>' + fmtMs(l.avgMs) + '</td><td>' + fmtMs(l.p99Ms) + '</td></tr>' }).join('')
    document.querySelector('#invalidations tbody').innerHTML = s.invalidations.slice(0, 12).map((e) => '<tr><td>' + new Date(e.at).toLocaleTimeString() + '</td><td>' + esc(e.kind) + '</td><td>' + esc([...e.keys, ...e.tags.map((t) => '#' + t)].join(' ')) + '</td><td>' + esc(e.from) + '</td></tr>').join('') || '<tr><td colspan="4">none yet</td></tr>'
    const li = s.lastInvalidation
    document.getElementById('last-inv-what').textContent = li ? '(' + li.tags.map((t) => '#' + t).join(' ') + ', ' + new Date(li.at).toLocaleTimeString() + ')' : ''
    // l1 (evicted here), then l2, bus and cdn as the tags call returned them (ms from its start), then one row per
    // other instance: from that start to its bus applying the tags there
    const remote = li ? (li.remote || []).map((r) => '<tr class="remote"><td>l1 @ ' + esc(r.instance) + '</td><td>' + esc(li.mode) + '</td><td>' + fmtMs(r.ms) + '</td><td>bus: tags applied</td></tr>').join('') : ''
    document.querySelector('#last-invalidation tbody').innerHTML = li ? li.layers.map((l) => '<tr><td>' + esc(l.layer) + '</td><td>' + esc(l.mode) + '</td><td>' + fmtMs(l.ms) + '</td><td class="' + (l.result.startsWith('failed') ? 'bad' : '') + '" title="' + esc((l.failed || []).map((f) => f.tag + ': ' + f.message).join('; ')) + '">' + esc(l.result) + '</td></tr>').join('') + remote : '<tr><td colspan="4">no update yet (PUT /api/products/:id)</td></tr>'
    document.getElementById('circuit').innerHTML = s.circuit.length === 0 ? 'no change since start' : s.circuit.slice(-6).map((c) => new Date(c.at).toLocaleTimeString() + ' <span class="' + (c.state === 'closed' ? 'ok' : 'bad') + '">' + esc(c.state) + '</span>').join(' → ')
    draw('hit-chart', ['cdn', 'l1', 'l2', 'db'], { max: 1, fmt: (v) => (v * 100).toFixed(0) + '%' })
    draw('latency-chart', ['p50', 'p95', 'p99'], { fmt: (v) => v.toFixed(v < 10 ? 1 : 0) })
    draw('rps-chart', ['rps'], { fmt: (v) => v.toFixed(0) })
    draw('pool-chart', ['pool'], { max: 1, fmt: (v) => (v * 100).toFixed(0) + '%' })
    prev = s
    document.body.dataset.ticks = String(Number(document.body.dataset.ticks || 0) + 1)
  }
  tick(); setInterval(tick, 1000)
})()
</script>
</body>
</html>
`
