// Logs in through a relying party with Debian's headless Chromium (through playwright-core), the
// way a person would: protected URL -> provider login form -> back to the protected URL. Prints
// the Cookie header the browser then sends to that URL, for load generators that replay it.
//
// Usage: node login-cookie.mjs URL [USER (alice)]
// Output: "STATUS <final status>", "COOKIE <name=value; ...>" (the relying party's cookies only:
// the provider's own cookies, whose names start with "_", are left out; on 127.0.0.1 browsers
// share cookies across ports). Exit code 1 unless the browser ends on URL's origin with a 200.
import { openLoopbackPage } from './chromium.mjs';

const [url, user = 'alice'] = process.argv.slice(2);
if (!url) {
  console.error('usage: node login-cookie.mjs URL [USER]');
  process.exit(2);
}
const target = new URL(url);
const { browser, context, page, navigation } = await openLoopbackPage();
let ok = false;
try {
  await page.goto(url, { waitUntil: 'domcontentloaded' });
  for (let hop = 0; hop < 4 && new URL(page.url()).origin !== target.origin; hop += 1) {
    if (await page.locator('input[name="login"]').count()) {
      // oidc-provider's development login form: any user name, any password.
      await page.fill('input[name="login"]', user);
      await page.fill('input[name="password"]', 'any-password');
    } else if (!await page.locator('button[type="submit"]').count()) {
      break;
    }
    await Promise.all([page.waitForNavigation({ waitUntil: 'domcontentloaded' }), page.click('button[type="submit"]')]);
  }
  const status = navigation.last ? navigation.last.status() : 0;
  const cookies = (await context.cookies(url)).filter((c) => !c.name.startsWith('_'));
  console.log(`STATUS ${status}`);
  console.log(`COOKIE ${cookies.map((c) => `${c.name}=${c.value}`).join('; ')}`);
  ok = status === 200 && new URL(page.url()).origin === target.origin && cookies.length > 0;
  if (!ok) console.error(`login through ${url} ended at ${page.url()} with status ${status}`);
} catch (error) {
  console.error(String(error && error.stack ? error.stack : error));
} finally {
  await browser.close();
}
process.exit(ok ? 0 : 1);
