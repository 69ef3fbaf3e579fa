// Herd's dashboard. Reads the lake with POST /v1/sql and the consumer groups and
// table sizes with GET /v1/pipeline, then draws each card with Chart.js. Plain
// JavaScript, no build step; every chart is kept in window.herdCharts by card name
// so that the end-to-end test can check what it holds.
'use strict';

(() => {
  /** Chart.js instances by card name. */
  const charts = {};
  window.herdCharts = charts;

  /** What the page has loaded; read by the end-to-end test. */
  const state = {
    pipeline: null,
    ready: false,
    loads: 0,
    key: null,
    keyLoads: 0,
    errors: [],
  };
  window.herdDashboard = state;

  const TOKEN_KEY = 'herd.token';
  const ID = /^[A-Za-z0-9_.-]{1,64}$/;
  const MINUTE = 60_000;
  const DAY = 86_400_000;
  const REFRESH_MS = 60_000;
  const BIN = 40; // accuracy histogram bins per unit: 0.025 wide

  const COLORS = {
    'in production': '#2e8b57',
    candidate: '#4a7bd0',
    failed: '#c94a4a',
    promoted: '#2e8b57',
    rejected: '#d9822b',
    rolled_back: '#7a7f8c',
    read: '#4a7bd0',
    lag: '#d9822b',
    sales: '#2458c6',
    models: '#8a4fc7',
    predictions: '#2e8b57',
    actual: '#1d2433',
    forecast: '#2458c6',
    band: 'rgba(36, 88, 198, 0.16)',
    threshold: '#c94a4a',
  };
  const PALETTE = ['#2458c6', '#d9822b', '#2e8b57', '#8a4fc7', '#c94a4a', '#17a2b8', '#7a7f8c'];

  const number = new Intl.NumberFormat('en-US');
  const fmt = (n) => (n === null || n === undefined ? '–' : number.format(n));
  const fixed = (n, digits = 3) => (n === null || n === undefined ? '–' : Number(n).toFixed(digits));

  class HttpError extends Error {
    constructor(status, message) {
      super(message);
      this.status = status;
    }
  }

  /** A card with no rows to show. */
  class NoData extends Error {}

  // ---- Requests -----------------------------------------------------------------

  let tokenAsked = null;

  /** Asks for the bearer token once per page; later 401s are reported, not asked again. */
  function askToken() {
    if (!tokenAsked) {
      tokenAsked = Promise.resolve().then(() => {
        const token = window.prompt(
          'This herd requires a bearer token (herd serve --token, or [serve] token in herd.toml):',
        );
        if (token && token.trim()) {
          sessionStorage.setItem(TOKEN_KEY, token.trim());
          return true;
        }
        return false;
      });
    }
    return tokenAsked;
  }

  async function request(path, init = {}) {
    for (let attempt = 0; ; attempt += 1) {
      const headers = { ...(init.headers || {}) };
      const token = sessionStorage.getItem(TOKEN_KEY);
      if (token) headers.Authorization = `Bearer ${token}`;
      const response = await fetch(path, { ...init, headers, cache: 'no-store' });
      if (response.status === 401 && attempt === 0 && (await askToken())) continue;
      const text = await response.text();
      let body = null;
      try {
        body = text ? JSON.parse(text) : null;
      } catch (_) {
        body = null;
      }
      if (response.status === 401) {
        sessionStorage.removeItem(TOKEN_KEY);
        throw new HttpError(
          401,
          token
            ? 'the bearer token was refused; reload the page to enter another'
            : 'this herd requires a bearer token; reload the page to enter it',
        );
      }
      if (!response.ok) {
        throw new HttpError(response.status, (body && body.error) || text || response.statusText);
      }
      return body;
    }
  }

  /** The rows of a read-only query. */
  async function sql(query) {
    const answer = await request('/v1/sql', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ sql: query }),
    });
    return answer.rows || [];
  }

  /** Whether the pipeline report says `name` exists and has rows (unknown: true). */
  function hasRows(name) {
    const tables = state.pipeline && state.pipeline.tables;
    if (!tables) return true;
    const table = tables[name];
    return Boolean(table && (table.rows === undefined || table.rows > 0));
  }

  function quoted(id) {
    if (!ID.test(id)) throw new Error(`${JSON.stringify(id)} is not a store or item id`);
    return `'${id}'`;
  }

  // ---- Cards --------------------------------------------------------------------

  function cardParts(name) {
    const card = document.getElementById(`card-${name}`);
    return {
      card,
      chart: card.querySelector('.chart'),
      empty: card.querySelector('.empty'),
      canvas: card.querySelector('canvas'),
    };
  }

  function showMessage(name, message) {
    const parts = cardParts(name);
    if (charts[name]) {
      charts[name].destroy();
      delete charts[name];
    }
    if (parts.chart) parts.chart.hidden = true;
    parts.empty.textContent = message;
    parts.empty.hidden = false;
  }

  function draw(name, config) {
    const parts = cardParts(name);
    parts.empty.hidden = true;
    parts.chart.hidden = false;
    if (charts[name]) charts[name].destroy();
    charts[name] = new window.Chart(parts.canvas, config);
  }

  /** Runs one card's loader; its failure shows in the card, not on the whole page. */
  async function guard(name, load, emptyHint) {
    try {
      await load();
    } catch (error) {
      if (error instanceof NoData) {
        showMessage(name, emptyHint ? `no data yet: ${emptyHint}` : 'no data yet');
        return;
      }
      const message = error instanceof HttpError ? error.message : String(error && error.message ? error.message : error);
      state.errors.push(`${name}: ${message}`);
      if (error instanceof HttpError && error.status === 404 && /without SQL/.test(message)) {
        banner(`SQL is not available: ${message}. The charts that read the lake stay empty.`);
      }
      showMessage(name, `could not load: ${message}`);
    }
  }

  function banner(message) {
    const element = document.getElementById('banner');
    element.textContent = message;
    element.hidden = false;
  }

  function axis(title, extra = {}) {
    return { title: { display: true, text: title }, ...extra };
  }

  function utc(ms, withDate) {
    const iso = new Date(ms).toISOString();
    return withDate ? iso.slice(0, 16).replace('T', ' ') : iso.slice(11, 16);
  }

  /**
   * Sums per-minute counts into buckets of a width from a fixed ladder, the
   * narrowest that keeps the span within `most` buckets.
   */
  function bucketWidth(times, most) {
    if (times.length === 0) return MINUTE;
    const span = Math.max(...times) - Math.min(...times);
    const ladder = [1, 5, 15, 60, 360, 1440, 10080].map((m) => m * MINUTE);
    return ladder.find((width) => span / width < most) || ladder[ladder.length - 1];
  }

  function bucketed(points, width) {
    const sums = new Map();
    for (const { t, n } of points) {
      const start = Math.floor(t / width) * width;
      sums.set(start, (sums.get(start) || 0) + n);
    }
    return [...sums.entries()].sort((a, b) => a[0] - b[0]);
  }

  function widthLabel(width) {
    const minutes = width / MINUTE;
    if (minutes < 60) return `${minutes} min`;
    if (minutes < 1440) return `${minutes / 60} h`;
    return `${minutes / 1440} d`;
  }

  // Latest version per key, and the version each key serves, as SQL.
  function latestVersions(where) {
    const filter = where ? ` WHERE ${where}` : '';
    return `SELECT * FROM (SELECT key, store_id, item_id, version, status, model_type, accuracy, baseline_accuracy, wape, "rows",
      row_number() OVER (PARTITION BY key ORDER BY version DESC) AS rn FROM models${filter}) AS v WHERE rn = 1`;
  }
  const SERVING = `SELECT key, version FROM (SELECT key, version,
      row_number() OVER (PARTITION BY key ORDER BY entry DESC) AS rn FROM production_models) AS p WHERE rn = 1`;

  // ---- Header -------------------------------------------------------------------

  async function loadPipeline() {
    try {
      state.pipeline = await request('/v1/pipeline');
    } catch (error) {
      state.pipeline = null;
      state.errors.push(`pipeline: ${error.message}`);
      banner(`GET /v1/pipeline failed: ${error.message}`);
    }
    const p = state.pipeline;
    const text = (id, value) => {
      document.getElementById(id).textContent = value;
    };
    if (p) {
      text('fact-lake', p.lake_root);
      text('fact-production', p.production_root);
      const threshold = p.rule.accuracy_threshold;
      text(
        'fact-rule',
        threshold === null
          ? `${p.rule.source}  (no accuracy threshold)`
          : `${p.rule.source}  (threshold: accuracy ${p.rule.inclusive ? '≥' : '>'} ${threshold})`,
      );
      const rows = (name) => (p.tables[name] ? fmt(p.tables[name].rows) : 'no data yet');
      text('fact-sales', rows('sales'));
      text('fact-predictions', rows('predictions'));
    }
  }

  async function loadCounts() {
    const text = (id, value) => {
      document.getElementById(id).textContent = value;
    };
    if (!hasRows('models')) {
      text('fact-keys', 'no data yet');
      text('fact-versions', 'no data yet');
    } else {
      const [counts] = await sql('SELECT count(DISTINCT key) AS keys, count(*) AS versions FROM models');
      text('fact-keys', fmt(counts.keys));
      text('fact-versions', fmt(counts.versions));
    }
    if (!hasRows('production_models')) {
      text('fact-production-keys', 'no data yet');
    } else {
      const [serving] = await sql('SELECT count(DISTINCT key) AS n FROM production_models');
      text('fact-production-keys', fmt(serving.n));
    }
  }

  // ---- Models by status and type ------------------------------------------------

  async function loadStatus() {
    if (!hasRows('models')) throw new NoData();
    const withProduction = hasRows('production_models');
    const status = withProduction
      ? `CASE WHEN l.status = 'failed' THEN 'failed' WHEN s.version = l.version THEN 'in production' ELSE 'candidate' END`
      : `l.status`;
    const join = withProduction ? ` LEFT JOIN (${SERVING}) AS s ON l.key = s.key` : '';
    const rows = await sql(`SELECT model_type, status, count(*) AS n FROM (
        SELECT coalesce(l.model_type, '(none)') AS model_type, ${status} AS status
        FROM (${latestVersions()}) AS l${join}) AS t
      GROUP BY model_type, status ORDER BY model_type, status`);
    if (rows.length === 0) throw new NoData();
    const totals = new Map();
    for (const r of rows) totals.set(r.model_type, (totals.get(r.model_type) || 0) + r.n);
    const types = [...totals.keys()].sort((a, b) => totals.get(b) - totals.get(a));
    const statuses = ['in production', 'candidate', 'failed'].filter((s) => rows.some((r) => r.status === s));
    draw('status', {
      type: 'bar',
      data: {
        labels: types,
        datasets: statuses.map((s) => ({
          label: s,
          backgroundColor: COLORS[s],
          data: types.map((t) => {
            const row = rows.find((r) => r.model_type === t && r.status === s);
            return row ? row.n : 0;
          }),
        })),
      },
      options: {
        scales: {
          x: axis('forecaster of the latest version', { stacked: true }),
          y: axis('keys', { stacked: true, beginAtZero: true, ticks: { precision: 0 } }),
        },
      },
    });
  }

  // ---- Accuracy histogram -------------------------------------------------------

  async function loadAccuracy() {
    if (!hasRows('models')) throw new NoData();
    const rows = await sql(`SELECT bin, count(*) AS n FROM (
        SELECT CASE WHEN accuracy < -0.1 THEN -4 WHEN accuracy >= 1 THEN ${BIN - 1}
               ELSE CAST(floor(accuracy * ${BIN}) AS BIGINT) END AS bin
        FROM (${latestVersions("status = 'candidate' AND accuracy IS NOT NULL")}) AS l) AS b
      GROUP BY bin ORDER BY bin`);
    if (rows.length === 0) throw new NoData();
    const threshold = state.pipeline ? state.pipeline.rule.accuracy_threshold : null;
    const most = Math.max(...rows.map((r) => r.n));
    const keys = rows.reduce((sum, r) => sum + r.n, 0);
    const datasets = [
      {
        type: 'bar',
        label: `keys (${fmt(keys)})`,
        backgroundColor: COLORS.candidate,
        data: rows.map((r) => ({ x: (r.bin + 0.5) / BIN, y: r.n })),
        barPercentage: 1,
        categoryPercentage: 1,
        order: 2,
      },
    ];
    if (threshold !== null) {
      const sign = state.pipeline.rule.inclusive ? '≥' : '>';
      datasets.push({
        type: 'line',
        label: `promotion threshold: accuracy ${sign} ${threshold}`,
        data: [
          { x: threshold, y: 0 },
          { x: threshold, y: most * 1.1 },
        ],
        borderColor: COLORS.threshold,
        borderDash: [6, 4],
        borderWidth: 2,
        pointRadius: 0,
        order: 1,
      });
    }
    const low = Math.min(0, ...rows.map((r) => r.bin / BIN));
    draw('accuracy', {
      type: 'bar',
      data: { datasets },
      options: {
        scales: {
          x: axis('holdout accuracy (1 − WAPE)', {
            type: 'linear',
            min: low,
            max: 1,
            offset: false,
            ticks: { stepSize: 0.1, callback: (v) => Number(v).toFixed(1) },
          }),
          y: axis('keys', { beginAtZero: true, ticks: { precision: 0 } }),
        },
        plugins: {
          tooltip: {
            callbacks: {
              title: (items) => {
                const x = items[0].parsed.x;
                return `accuracy ${(x - 0.5 / BIN).toFixed(3)} – ${(x + 0.5 / BIN).toFixed(3)}`;
              },
            },
          },
        },
      },
    });
  }

  // ---- Promotion decisions ------------------------------------------------------

  async function loadDecisions() {
    if (!hasRows('promotions')) throw new NoData();
    const rows = await sql(`SELECT date_trunc('minute', decided_at) AS minute, decision, count(*) AS n
      FROM promotions GROUP BY date_trunc('minute', decided_at), decision ORDER BY minute DESC LIMIT 5000`);
    if (rows.length === 0) throw new NoData();
    const points = rows.map((r) => ({ t: Date.parse(r.minute), n: r.n, decision: r.decision }));
    const width = bucketWidth(points.map((p) => p.t), 48);
    const starts = [...new Set(points.map((p) => Math.floor(p.t / width) * width))].sort((a, b) => a - b);
    const withDate = starts.length > 0 && starts[starts.length - 1] - starts[0] >= DAY / 2;
    const kinds = ['promoted', 'rejected', 'rolled_back'].filter((k) => points.some((p) => p.decision === k));
    for (const p of points) if (!kinds.includes(p.decision)) kinds.push(p.decision);
    draw('decisions', {
      type: 'bar',
      data: {
        labels: starts.map((s) => utc(s, withDate || width >= DAY)),
        datasets: kinds.map((kind, i) => ({
          label: kind.replace('_', ' '),
          backgroundColor: COLORS[kind] || PALETTE[i % PALETTE.length],
          data: starts.map((s) =>
            points
              .filter((p) => p.decision === kind && Math.floor(p.t / width) * width === s)
              .reduce((sum, p) => sum + p.n, 0),
          ),
        })),
      },
      options: {
        scales: {
          x: axis(`decided at (UTC, ${widthLabel(width)} buckets)`, { stacked: true }),
          y: axis('decisions', { stacked: true, beginAtZero: true, ticks: { precision: 0 } }),
        },
      },
    });
  }

  // ---- Throughput ---------------------------------------------------------------

  async function perMinute(table, column) {
    if (!hasRows(table)) return [];
    const rows = await sql(`SELECT date_trunc('minute', ${column}) AS minute, count(*) AS n
      FROM ${table} GROUP BY date_trunc('minute', ${column}) ORDER BY minute DESC LIMIT 1440`);
    return rows.map((r) => ({ t: Date.parse(r.minute), n: r.n }));
  }

  async function loadThroughput() {
    const archived = ((state.pipeline && state.pipeline.archived) || []).map((a) => ({
      t: Date.parse(a.minute),
      n: a.rows,
    }));
    const [trained, scored] = await Promise.all([
      perMinute('models', 'trained_at'),
      perMinute('predictions', 'scored_at'),
    ]);
    const series = [
      ['sales rows archived', archived, COLORS.sales],
      ['models trained', trained, COLORS.models],
      ['forecast rows written', scored, COLORS.predictions],
    ].filter(([, points]) => points.length > 0);
    if (series.length === 0) throw new NoData();
    const times = series.flatMap(([, points]) => points.map((p) => p.t));
    const width = bucketWidth(times, 120);
    const minutes = width / MINUTE;
    const low = Math.min(...times);
    const high = Math.max(...times);
    const withDate = high - low >= DAY / 2;
    const first = Math.floor(low / width) * width - width;
    const last = Math.floor(high / width) * width + 2 * width;
    // Ticks on bucket boundaries, at most about eight of them.
    const step = width * Math.max(1, Math.ceil((last - first) / width / 8));
    draw('throughput', {
      type: 'line',
      data: {
        datasets: series.map(([label, points, color]) => ({
          label,
          borderColor: color,
          backgroundColor: color,
          pointRadius: 3,
          data: bucketed(points, width).map(([t, n]) => ({ x: t + width / 2, y: n / minutes })),
        })),
      },
      options: {
        scales: {
          x: axis(`time (UTC, ${widthLabel(width)} buckets)`, {
            type: 'linear',
            min: first,
            max: last,
            ticks: { stepSize: step, callback: (v) => utc(v, withDate) },
          }),
          y: axis('rows per minute (log scale)', { type: 'logarithmic' }),
        },
        plugins: {
          tooltip: {
            callbacks: {
              title: (items) => `${utc(items[0].parsed.x - width / 2, true)} UTC, ${widthLabel(width)}`,
              label: (item) => `${item.dataset.label}: ${fmt(Math.round(item.parsed.y))} per minute`,
            },
          },
        },
      },
    });
  }

  // ---- Consumer lag -------------------------------------------------------------

  function loadLag() {
    const table = document.getElementById('lag-table');
    const body = table.querySelector('tbody');
    body.replaceChildren();
    table.hidden = true;
    const kafka = state.pipeline && state.pipeline.kafka;
    if (!kafka) {
      showMessage('lag', 'no data yet: GET /v1/pipeline did not answer');
      return;
    }
    if (kafka.error) {
      showMessage('lag', `Kafka is unreachable, so lag is unknown: ${kafka.error}`);
      return;
    }
    const groups = kafka.groups || [];
    if (groups.length === 0) throw new NoData();
    table.hidden = false;
    for (const g of groups) {
      const row = document.createElement('tr');
      const cells = [
        g.service,
        g.group,
        g.topic,
        `${g.committed_partitions} of ${g.partitions.length}`,
        g.consumed === null ? '–' : fmt(g.consumed),
        g.error ? g.error : g.lag === null ? 'no commits' : fmt(g.lag),
      ];
      cells.forEach((value, i) => {
        const cell = document.createElement('td');
        cell.textContent = value;
        cell.className = i >= 3 ? 'num' : i === 0 ? 'nowrap' : 'name';
        row.append(cell);
      });
      body.append(row);
    }
    draw('lag', {
      type: 'bar',
      data: {
        labels: groups.map((g) => [g.service, g.lag === null ? '(no commits)' : `${fmt(g.lag)} behind`]),
        datasets: [
          { label: 'read (committed)', backgroundColor: COLORS.read, data: groups.map((g) => g.consumed || 0) },
          { label: 'behind (lag)', backgroundColor: COLORS.lag, data: groups.map((g) => g.lag || 0) },
        ],
      },
      options: {
        indexAxis: 'y',
        scales: {
          x: axis('records', { stacked: true, beginAtZero: true, ticks: { precision: 0 } }),
          y: axis('service', { stacked: true }),
        },
        plugins: {
          tooltip: {
            callbacks: {
              title: (items) => {
                const g = groups[items[0].dataIndex];
                return `${g.service}: ${g.group} on ${g.topic}`;
              },
            },
          },
        },
      },
    });
  }

  // ---- One key ------------------------------------------------------------------

  const storePicker = () => document.getElementById('pick-store');
  const itemPicker = () => document.getElementById('pick-item');

  function fillPicker(select, values, wanted) {
    select.replaceChildren(
      ...values.map((v) => {
        const option = document.createElement('option');
        option.value = v;
        option.textContent = v;
        return option;
      }),
    );
    if (values.includes(wanted)) select.value = wanted;
  }

  async function loadStores() {
    if (!hasRows('models')) throw new NoData();
    const stores = (await sql('SELECT DISTINCT store_id FROM models ORDER BY store_id')).map((r) => r.store_id);
    if (stores.length === 0) throw new NoData();
    // The first key with predictions, if any, so that the first plot has a forecast.
    let [store, item] = [stores[0], null];
    if (hasRows('predictions')) {
      const [first] = await sql('SELECT store_id, item_id FROM predictions ORDER BY store_id, item_id LIMIT 1');
      if (first) [store, item] = [first.store_id, first.item_id];
    }
    fillPicker(storePicker(), stores, store);
    await loadItems(item);
  }

  async function loadItems(wanted) {
    const store = storePicker().value;
    const items = (
      await sql(`SELECT DISTINCT item_id FROM models WHERE store_id = ${quoted(store)} ORDER BY item_id`)
    ).map((r) => r.item_id);
    fillPicker(itemPicker(), items, wanted || items[0]);
    await plotKey();
  }

  /** Plots `store`/`item` (from the worst-keys table), moving the pickers to it. */
  async function pickKey(store, item) {
    if (storePicker().value !== store) {
      storePicker().value = store;
      await guard('forecast', () => loadItems(item));
    } else {
      itemPicker().value = item;
      await guard('forecast', plotKey);
    }
    document.getElementById('card-forecast').scrollIntoView({ behavior: 'smooth', block: 'start' });
  }

  let plotting = 0;

  async function plotKey() {
    const store = storePicker().value;
    const item = itemPicker().value;
    if (!store || !item) throw new NoData();
    const mine = (plotting += 1);
    const where = `store_id = ${quoted(store)} AND item_id = ${quoted(item)}`;
    const info = document.getElementById('key-info');

    let forecast = [];
    let asOf = null;
    let about = '';
    if (hasRows('predictions')) {
      const rows = await sql(`SELECT as_of, target_date, step, forecast, lower, upper, model_version, model_type,
          cold_start, source FROM predictions
        WHERE ${where} AND as_of = (SELECT max(as_of) FROM predictions WHERE ${where})
        ORDER BY step, scored_at DESC`);
      const seen = new Set();
      forecast = rows.filter((r) => !seen.has(r.step) && seen.add(r.step));
      if (forecast.length > 0) {
        const first = forecast[0];
        asOf = first.as_of;
        const model = first.cold_start
          ? 'cold-start forecast'
          : `model v${first.model_version} (${first.model_type || 'unknown type'})`;
        about = `predictions as of ${asOf}, ${model}, ${first.source} scoring`;
      }
    }
    if (forecast.length === 0) {
      try {
        const answer = await request(`/v1/forecast/${encodeURIComponent(store)}/${encodeURIComponent(item)}`);
        asOf = answer.trained_through;
        forecast = answer.forecast.map((p) => ({ ...p, target_date: p.date }));
        about = `no predictions for this key yet: GET /v1/forecast, model v${answer.model_version} (${answer.model_type || 'unknown type'}) trained through ${asOf}`;
      } catch (error) {
        if (!(error instanceof HttpError && error.status === 404)) throw error;
        about = 'no forecast yet: no predictions and no production model for this key';
      }
    }

    let from;
    let to;
    if (asOf) {
      from = new Date(Date.parse(asOf) - 90 * DAY).toISOString().slice(0, 10);
      to = forecast.length > 0 ? forecast[forecast.length - 1].target_date : asOf;
    } else {
      if (!hasRows('sales')) throw new NoData();
      const [last] = await sql(`SELECT max(date) AS last FROM sales WHERE ${where}`);
      if (!last || !last.last) throw new NoData();
      to = last.last;
      from = new Date(Date.parse(to) - 120 * DAY).toISOString().slice(0, 10);
    }
    const actuals = hasRows('sales')
      ? await sql(`SELECT date, sales FROM sales WHERE ${where}
          AND date >= CAST('${from}' AS DATE) AND date <= CAST('${to}' AS DATE) ORDER BY date`)
      : [];
    if (mine !== plotting) return; // a later pick has taken over
    if (actuals.length === 0 && forecast.length === 0) throw new NoData();

    const labels = [];
    for (let t = Date.parse(from); t <= Date.parse(to); t += DAY) labels.push(new Date(t).toISOString().slice(0, 10));
    const byDate = (rows, dateOf, valueOf) => {
      const values = new Map(rows.map((r) => [dateOf(r), valueOf(r)]));
      return labels.map((d) => (values.has(d) ? values.get(d) : null));
    };
    const point = (r) => r.target_date;
    info.textContent = `${store}/${item}: ${about}.`;
    draw('forecast', {
      type: 'line',
      data: {
        labels,
        datasets: [
          {
            label: 'actual sales',
            data: byDate(actuals, (r) => r.date, (r) => r.sales),
            borderColor: COLORS.actual,
            backgroundColor: COLORS.actual,
            borderWidth: 1.5,
            pointRadius: 1.5,
          },
          {
            label: 'lower',
            data: byDate(forecast, point, (r) => r.lower),
            borderWidth: 0,
            pointRadius: 0,
            fill: false,
          },
          {
            label: '80% interval',
            data: byDate(forecast, point, (r) => r.upper),
            borderWidth: 0,
            pointRadius: 0,
            backgroundColor: COLORS.band,
            fill: '-1',
          },
          {
            label: 'forecast',
            data: byDate(forecast, point, (r) => r.forecast),
            borderColor: COLORS.forecast,
            backgroundColor: COLORS.forecast,
            borderWidth: 2,
            pointRadius: 0,
          },
        ],
      },
      options: {
        interaction: { mode: 'index', intersect: false },
        scales: {
          x: axis('date', { ticks: { maxTicksLimit: 14 } }),
          y: axis('units sold per day', { beginAtZero: true }),
        },
        plugins: {
          legend: { labels: { filter: (entry) => entry.text !== 'lower' } },
          tooltip: { filter: (item) => item.raw !== null },
        },
      },
    });
    state.key = `${store}/${item}`;
    state.keyLoads += 1;
    for (const row of document.querySelectorAll('#worst-table tbody tr')) {
      row.classList.toggle('picked', row.dataset.key === state.key);
    }
  }

  // ---- Tables of keys ---------------------------------------------------------

  /** Card `name`'s table with one row per key of `rows`, each a click that plots the
   * key; `cellsOf` gives a row's cells as [text, numeric]. Without rows, `message`. */
  function fillKeys(name, rows, cellsOf, message) {
    const parts = cardParts(name);
    const table = document.getElementById(`${name}-table`);
    const body = table.querySelector('tbody');
    if (rows.length === 0) {
      body.replaceChildren();
      table.hidden = true;
      parts.empty.textContent = message;
      parts.empty.hidden = false;
      return;
    }
    table.hidden = false;
    parts.empty.hidden = true;
    body.replaceChildren(
      ...rows.map((r) => {
        const row = document.createElement('tr');
        row.dataset.key = `${r.store_id}/${r.item_id}`;
        row.classList.toggle('picked', row.dataset.key === state.key);
        for (const [value, numeric] of cellsOf(r)) {
          const cell = document.createElement('td');
          cell.textContent = value;
          if (numeric) cell.className = 'num';
          row.append(cell);
        }
        row.addEventListener('click', () => pickKey(r.store_id, r.item_id));
        return row;
      }),
    );
  }

  // ---- Worst keys ---------------------------------------------------------------

  async function loadWorst() {
    if (!hasRows('models')) {
      fillKeys('worst', [], null, 'no data yet: herd train fills the candidate registry');
      return;
    }
    const withProduction = hasRows('production_models');
    const rows = await sql(`SELECT l.store_id, l.item_id, l.version, l.model_type, l.accuracy,
        l.baseline_accuracy, l.wape, l."rows" AS days, ${withProduction ? 's.version' : 'CAST(NULL AS BIGINT)'} AS serving
      FROM (${latestVersions("status = 'candidate' AND accuracy IS NOT NULL")}) AS l
      ${withProduction ? `LEFT JOIN (${SERVING}) AS s ON l.key = s.key` : ''}
      ORDER BY l.accuracy ASC, l.store_id, l.item_id LIMIT 15`);
    fillKeys(
      'worst',
      rows,
      (r) => [
        [r.store_id],
        [r.item_id],
        [`v${r.version}`, true],
        [r.model_type || '–'],
        [fixed(r.accuracy), true],
        [fixed(r.baseline_accuracy), true],
        [fixed(r.wape), true],
        [fmt(r.days), true],
        [r.serving === null ? 'none' : r.serving === r.version ? 'this version' : `v${r.serving}`],
      ],
      'no data yet: no candidate has an accuracy',
    );
  }

  // ---- Forecasts against the days that arrived ---------------------------------

  /** Per origin of the forecasts, over the days of the last four weeks of as-of dates
   * whose sales have arrived since: days, accuracy (1 − WAPE) and the share of days
   * inside the 80% interval. A day corrected in `sales` counts its last record. */
  async function loadArrived() {
    const table = document.getElementById('arrived-table');
    const none = 'no forecast day has arrived yet: this fills as sales of forecast days are archived';
    const show = (rows) => {
      const body = table.querySelector('tbody');
      const parts = cardParts('arrived');
      table.hidden = rows.length === 0;
      parts.empty.hidden = rows.length > 0;
      parts.empty.textContent = none;
      body.replaceChildren(
        ...rows.map((r) => {
          const row = document.createElement('tr');
          const accuracy = r.actual > 0 ? 1 - r.abs_error / r.actual : null;
          for (const [value, numeric] of [
            [r.origin || '(before origins were recorded)'],
            [fmt(r.days), true],
            [fixed(accuracy), true],
            [r.days > 0 ? `${(100 * r.inside / r.days).toFixed(1)}%` : '–', true],
          ]) {
            const cell = document.createElement('td');
            cell.textContent = value;
            if (numeric) cell.className = 'num';
            row.append(cell);
          }
          return row;
        }),
      );
    };
    if (!hasRows('predictions') || !hasRows('sales')) {
      show([]);
      return;
    }
    const rows = await sql(`WITH recent AS (
        SELECT * FROM predictions
        WHERE as_of >= (SELECT max(as_of) FROM predictions) - INTERVAL '28' DAY),
      sold AS (
        SELECT store_id, item_id, date, sales FROM (
          SELECT store_id, item_id, date, sales, row_number() OVER (
            PARTITION BY store_id, item_id, date ORDER BY kafka_partition DESC, kafka_offset DESC) AS n
          FROM sales WHERE date > (SELECT min(as_of) FROM recent)) AS s
        WHERE n = 1)
      SELECT p.origin, count(*) AS days,
        sum(CASE WHEN s.sales >= p.lower AND s.sales <= p.upper THEN 1 ELSE 0 END) AS inside,
        sum(abs(s.sales - p.forecast)) AS abs_error, sum(s.sales) AS actual
      FROM recent AS p JOIN sold AS s
        ON s.store_id = p.store_id AND s.item_id = p.item_id AND s.date = p.target_date
      GROUP BY p.origin ORDER BY days DESC`);
    show(rows);
  }

  // ---- Drifting keys ------------------------------------------------------------

  async function loadDrift() {
    const none = 'no key has drifted: the continuous trainer retrains a key early when its new days leave what its model expected';
    if (!hasRows('models')) {
      fillKeys('drift', [], null, none);
      return;
    }
    const rows = await sql(`SELECT store_id, item_id, version, model_type, accuracy, data_end, trained_at
      FROM models WHERE "trigger" = 'drift' ORDER BY trained_at DESC, store_id, item_id LIMIT 15`);
    fillKeys(
      'drift',
      rows,
      (r) => [
        [r.store_id],
        [r.item_id],
        [`v${r.version}`, true],
        [r.model_type || '–'],
        [fixed(r.accuracy), true],
        [r.data_end || '–'],
        [`${utc(Date.parse(r.trained_at), true)} UTC`],
      ],
      none,
    );
  }

  // ---- Page ---------------------------------------------------------------------

  let refreshing = null;

  async function refresh() {
    if (refreshing) return refreshing;
    refreshing = (async () => {
      state.errors = [];
      await loadPipeline();
      await Promise.all([
        guard('lag', loadLag),
        guard('status', loadStatus, 'herd train fills the candidate registry'),
        guard('accuracy', loadAccuracy, 'herd train fills the candidate registry'),
        guard('decisions', loadDecisions, 'herd promote records its decisions'),
        guard('throughput', loadThroughput, 'nothing archived, trained or scored yet'),
        guard('forecast', state.key ? plotKey : loadStores, 'no key has sales or forecasts'),
        ...[
          ['worst', loadWorst],
          ['drift', loadDrift],
          ['arrived', loadArrived],
        ].map(([name, load]) =>
          load().catch((error) => {
            state.errors.push(`${name}: ${error.message}`);
            cardParts(name).empty.textContent = `could not load: ${error.message}`;
            cardParts(name).empty.hidden = false;
          }),
        ),
        loadCounts().catch((error) => state.errors.push(`counts: ${error.message}`)),
      ]);
      document.getElementById('updated').textContent = `updated ${utc(Date.now(), true)} UTC`;
      state.loads += 1;
      state.ready = true;
    })();
    try {
      await refreshing;
    } finally {
      refreshing = null;
    }
    return undefined;
  }

  function start() {
    if (!window.Chart) {
      banner('The charting library did not load (/assets/vendor/chart.umd.min.js).');
      return;
    }
    const Chart = window.Chart;
    Chart.defaults.animation = false;
    Chart.defaults.maintainAspectRatio = false;
    Chart.defaults.responsive = true;
    Chart.defaults.font.family = getComputedStyle(document.documentElement).fontFamily;
    Chart.defaults.color = '#3a4255';
    Chart.defaults.plugins.legend.position = 'bottom';

    storePicker().addEventListener('change', () => guard('forecast', () => loadItems(null)));
    itemPicker().addEventListener('change', () => guard('forecast', plotKey));
    document.getElementById('key-form').addEventListener('submit', (event) => event.preventDefault());
    document.getElementById('refresh').addEventListener('click', () => refresh());
    refresh();
    setInterval(() => {
      if (!document.hidden) refresh();
    }, REFRESH_MS);
  }

  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', start);
  } else {
    start();
  }
})();
