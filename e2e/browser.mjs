// Drives Debian's headless Chromium (through playwright-core) through a scenario and prints one
// JSON line per step, for the Rust end-to-end tests to assert on.
//
// Usage: node browser.mjs '<scenario JSON>'
// Scenario: { "steps": [ step, ... ] } where a step is one of
//   { "goto": URL, "login": USER? }      navigate; if the provider's login form shows up, sign in
//                                        as USER (any password) and follow the redirects back
//   { "request": { "url", "method"?, "headers"?, "body"?, "csrfCookie"?, "csrfHeader"? } }
//                                        an HTTP request sharing the browser's cookies, redirects
//                                        not followed; with csrfCookie/csrfHeader, the cookie's
//                                        value is copied into the header (double-submit)
//   { "confirmLogout": true }            click the provider's "sign out" confirmation if shown
//   { "sleep": MILLISECONDS }
//   { "cookies": URL }                   report the cookies the browser holds for URL
// Each output line: {"step": i, ...result}. Exit code 1 when a step throws.
import { openLoopbackPage } from './chromium.mjs';

const scenario = JSON.parse(process.argv[2] || '{"steps":[]}');
const out = (obj) => console.log(JSON.stringify(obj));

const { browser, context, page, navigation } = await openLoopbackPage();
let failed = false;
try {
  const steps = scenario.steps || [];
  for (let i = 0; i < steps.length; i += 1) {
    const step = steps[i];
    if (step.goto) {
      const target = new URL(step.goto);
      navigation.last = undefined;
      await page.goto(step.goto, { waitUntil: 'domcontentloaded' });
      let loggedIn = false;
      for (let hop = 0; hop < 4 && new URL(page.url()).origin !== target.origin; hop += 1) {
        const userButton = step.login ? page.locator(`button[name="username"][value="${step.login}"]`) : null;
        if (step.login && await page.locator('input[name="login"]').count()) {
          // oidc-provider's development login form.
          await page.fill('input[name="login"]', step.login);
          await page.fill('input[name="password"]', 'any-password');
          await Promise.all([page.waitForNavigation({ waitUntil: 'domcontentloaded' }), page.click('button[type="submit"]')]);
          loggedIn = true;
        } else if (userButton && await userButton.count()) {
          // The development provider's form: one button per configured user.
          await Promise.all([page.waitForNavigation({ waitUntil: 'domcontentloaded' }), userButton.first().click()]);
          loggedIn = true;
        } else if (await page.locator('button[type="submit"]').count()) {
          await Promise.all([page.waitForNavigation({ waitUntil: 'domcontentloaded' }), page.click('button[type="submit"]')]);
        } else {
          break;
        }
      }
      let body = '';
      try { body = navigation.last ? await navigation.last.text() : ''; } catch { body = await page.content(); }
      out({ step: i, url: page.url(), status: navigation.last ? navigation.last.status() : 0, loggedIn, body });
    } else if (step.request) {
      const r = step.request;
      const headers = { ...(r.headers || {}) };
      if (r.csrfCookie) {
        const cookie = (await context.cookies(r.url)).find((c) => c.name === r.csrfCookie);
        if (cookie) headers[r.csrfHeader] = cookie.value;
      }
      const response = await context.request.fetch(r.url, {
        method: r.method || 'GET', headers, data: r.body, maxRedirects: 0, failOnStatusCode: false,
      });
      out({ step: i, url: r.url, status: response.status(), headers: response.headers(), body: await response.text() });
    } else if (step.confirmLogout) {
      const button = page.locator('button[autofocus], button[value="yes"], form button').first();
      if (await button.count()) {
        await Promise.all([page.waitForNavigation({ waitUntil: 'domcontentloaded' }), button.click()]);
      }
      out({ step: i, url: page.url(), status: navigation.last ? navigation.last.status() : 0 });
    } else if (step.sleep) {
      await new Promise((resolve) => { setTimeout(resolve, step.sleep); });
      out({ step: i, slept: step.sleep });
    } else if (step.cookies) {
      const cookies = await context.cookies(step.cookies);
      out({ step: i, cookies: cookies.map((c) => ({ name: c.name, size: c.value.length, httpOnly: c.httpOnly, sameSite: c.sameSite })) });
    }
  }
} catch (error) {
  out({ error: String(error && error.stack ? error.stack : error) });
  failed = true;
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);
