// Drives Herd's dashboard page in Debian's headless Chromium:
//   node dashboard.mjs <page url> <screenshot.png> [bearer token]
// Loads the page (with a token: answers the page's one prompt for it), waits until
// every chart holds data, clicks a row of the worst keys and checks that it is
// plotted, picks another key in the picker and checks that the key's chart
// changed, then writes a full-page screenshot. Exits non-zero with a message on
// any failure. tests/tests/dashboard.rs runs it against `herd serve` over a real
// lake.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';

const CHROMIUM = process.env.HERD_CHROMIUM || '/usr/bin/chromium';
// This machine and CI have no network beyond the server under test: no update,
// sync or component checks, no QUIC, and no sandbox (tests run as root).
const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
/** Cards whose Chart.js instance must hold data, by their name in window.herdCharts. */
const CHARTS = ['status', 'accuracy', 'decisions', 'throughput', 'lag', 'forecast'];
const TIMEOUT_MS = 90_000;

/** A failed check; its message is all the output needs. */
class Failure extends Error {}

function fail(message) {
  throw new Failure(message);
}

const [url, screenshot, token] = process.argv.slice(2);
if (!url || !screenshot) {
  console.error('dashboard: usage: node dashboard.mjs <page url> <screenshot.png> [bearer token]');
  process.exit(2);
}
if (!fs.existsSync(CHROMIUM)) {
  console.error(`dashboard: ${CHROMIUM} is missing: install it with \`apt-get install -y chromium chromium-driver\``);
  process.exit(1);
}

const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'herd-dashboard-chromium-'));
const problems = [];
let prompts = 0;
let context;

/** The page's own account of what it loaded, for failure messages. */
async function pageState(page) {
  return page.evaluate(() => ({
    ready: window.herdDashboard && window.herdDashboard.ready,
    errors: window.herdDashboard && window.herdDashboard.errors,
    charts: Object.fromEntries(
      Object.entries(window.herdCharts || {}).map(([name, chart]) => [
        name,
        chart.data.datasets.map((d) => `${d.label}: ${d.data.length} points`),
      ]),
    ),
    messages: [...document.querySelectorAll('.empty:not([hidden])')].map(
      (e) => `${e.closest('section').id}: ${e.textContent}`,
    ),
    banner: document.getElementById('banner').hidden ? null : document.getElementById('banner').textContent,
  }));
}

/** The key chart's data, to tell one key's plot from another's. */
function keyData(page) {
  return page.evaluate(() =>
    JSON.stringify(window.herdCharts.forecast.data.datasets.map((d) => d.data)),
  );
}

async function waitFor(page, what, predicate, arg) {
  try {
    await page.waitForFunction(predicate, arg, { timeout: TIMEOUT_MS, polling: 200 });
  } catch (error) {
    const state = await pageState(page).catch((e) => `unavailable: ${e.message}`);
    fail(`${what} did not happen within ${TIMEOUT_MS / 1000} s (${error.message.split('\n')[0]}); page: ${JSON.stringify(state, null, 1)}; problems: ${JSON.stringify(problems)}`);
  }
}

try {
  context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ARGS,
    viewport: { width: 1400, height: 1000 },
    deviceScaleFactor: 1,
  });
  const page = context.pages()[0] || (await context.newPage());
  page.on('pageerror', (error) => problems.push(`script error: ${error.message}`));
  page.on('console', (message) => {
    // Failed loads are judged by their responses below.
    if (message.type() === 'error' && !/^Failed to load resource/.test(message.text())) {
      problems.push(`console error: ${message.text()}`);
    }
  });
  page.on('dialog', async (dialog) => {
    prompts += 1;
    if (token && dialog.type() === 'prompt') {
      await dialog.accept(token);
    } else {
      problems.push(`unexpected ${dialog.type()}: ${dialog.message()}`);
      await dialog.dismiss();
    }
  });
  page.on('requestfailed', (request) => problems.push(`request failed: ${request.url()} ${request.failure()?.errorText}`));
  page.on('response', (response) => {
    const status = response.status();
    // The page's fallback for a key without predictions, and its first requests
    // before it has asked for the token.
    const expected =
      (status === 404 && /\/v1\/forecast\//.test(response.url())) || (status === 401 && token && prompts <= 1);
    if (status >= 400 && !expected) {
      problems.push(`HTTP ${status} from ${response.url()}`);
    }
  });

  const started = Date.now();
  const response = await page.goto(url, { waitUntil: 'load', timeout: TIMEOUT_MS });
  if (!response || response.status() !== 200) fail(`GET ${url} answered ${response && response.status()}`);
  await waitFor(page, 'the first load', () => window.herdDashboard && window.herdDashboard.ready);
  const first = await pageState(page);
  if (first.errors.length > 0) fail(`the page reported errors: ${JSON.stringify(first, null, 1)}`);
  await waitFor(
    page,
    'data in every chart',
    (names) =>
      names.every((name) => {
        const chart = window.herdCharts[name];
        return (
          chart &&
          chart.data.datasets.length > 0 &&
          chart.data.datasets.every((d) => d.data.length > 0) &&
          chart.data.datasets.some((d) => d.data.some((v) => v !== null && v !== undefined))
        );
      }),
    CHARTS,
  );
  if (token && prompts !== 1) fail(`the page asked for the token ${prompts} times, not once`);
  const facts = await page.$$eval('#facts dd', (items) => items.map((i) => [i.id, i.textContent]));
  const unfilled = facts.filter(([, text]) => !text || text === '…');
  if (unfilled.length > 0) fail(`header facts not filled: ${JSON.stringify(unfilled)}`);
  const worstRows = await page.$$eval('#worst-table tbody tr', (rows) => rows.length);
  if (worstRows === 0) fail('the worst-keys table is empty');
  // The forecasts of store S0001 as of 2023-01-07, scored on the days since.
  const arrived = await page.$$eval('#arrived-table tbody tr', (rows) =>
    rows.map((r) => [...r.querySelectorAll('td')].map((c) => c.textContent)),
  );
  const champion = arrived.find((cells) => cells[0] === 'champion');
  if (!champion) fail(`no champion forecasts scored on the days that arrived: ${JSON.stringify(arrived)}`);
  const [, days, accuracy, inside] = champion;
  if (!(Number(days.replace(/[^0-9]/g, '')) > 0 && /^-?\d+\.\d{3}$/.test(accuracy) && /^\d+\.\d%$/.test(inside))) {
    fail(`the arrived row is not days, accuracy and coverage: ${JSON.stringify(champion)}`);
  }
  console.log(`forecast days arrived: ${JSON.stringify(arrived)}`);
  console.log(`every chart has data after ${((Date.now() - started) / 1000).toFixed(1)} s; facts: ${facts.map(([id, t]) => `${id.replace('fact-', '')}=${t}`).join(', ')}`);

  // A click on a worst key plots it.
  const clicked = await page.$$eval('#worst-table tbody tr', (rows, key) => {
    const index = rows.findIndex((r) => r.dataset.key !== key);
    return index < 0 ? null : { index, key: rows[index].dataset.key };
  }, await page.evaluate(() => window.herdDashboard.key));
  if (!clicked) fail('the worst-keys table offers no other key than the one plotted');
  await page.locator('#worst-table tbody tr').nth(clicked.index).click();
  await waitFor(page, `the chart of ${clicked.key} after a click`, (key) => window.herdDashboard.key === key, clicked.key);
  console.log(`clicked the worst-keys row of ${clicked.key}: plotted`);

  // Another key in the picker (one with predictions, when the store has one): the
  // key chart must change.
  const firstKey = await page.evaluate(() => window.herdDashboard.key);
  const firstData = await keyData(page);
  const store = await page.$eval('#pick-store', (select) => select.value);
  const current = await page.$eval('#pick-item', (select) => select.value);
  const items = await page.$$eval('#pick-item option', (options) => options.map((o) => o.value));
  const scored = await page.evaluate(async ([s, i]) => {
    const response = await fetch('/v1/sql', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({
        sql: `SELECT DISTINCT item_id FROM predictions WHERE store_id = '${s}' AND item_id <> '${i}' ORDER BY item_id LIMIT 1`,
      }),
    });
    return response.ok ? ((await response.json()).rows[0] || {}).item_id : undefined;
  }, [store, current]);
  const other = items.includes(scored) ? scored : items.find((item) => item !== current);
  if (!other) fail(`the item picker offers no other key than ${current}`);
  const loads = await page.evaluate(() => window.herdDashboard.keyLoads);
  await page.selectOption('#pick-item', other);
  await waitFor(
    page,
    `the chart of ${store}/${other}`,
    ([key, before]) => window.herdDashboard.key === key && window.herdDashboard.keyLoads > before,
    [`${store}/${other}`, loads],
  );
  const secondData = await keyData(page);
  if (secondData === firstData) fail(`the key chart did not change from ${firstKey} to ${store}/${other}`);
  console.log(`picked ${store}/${other} after ${firstKey}: the key chart changed`);

  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: screenshot, fullPage: true });
  if (problems.length > 0) fail(`the page had problems: ${problems.join('; ')}`);
  const final = await pageState(page);
  console.log(`charts: ${JSON.stringify(final.charts)}`);
  console.log(`screenshot: ${screenshot} (${fs.statSync(screenshot).size} bytes)`);
} catch (error) {
  console.error(`dashboard: ${error instanceof Failure ? error.message : error.stack || error}`);
  process.exitCode = 1;
} finally {
  if (context) await context.close().catch(() => {});
  fs.rmSync(profile, { recursive: true, force: true });
}
