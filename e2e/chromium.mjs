// Debian's headless Chromium through playwright-core, as the end-to-end tests and the benchmark
// use it: one browser, one context that may only reach loopback (anything else, such as web fonts
// of a provider's pages, is refused), one page, and the last main-frame navigation response.
import { chromium } from 'playwright-core';

export async function openLoopbackPage() {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--no-first-run', '--no-proxy-server'],
  });
  const context = await browser.newContext();
  await context.route('**/*', (route) => {
    const host = new URL(route.request().url()).hostname;
    return host === '127.0.0.1' || host === 'localhost' ? route.continue() : route.abort();
  });
  const page = await context.newPage();
  page.setDefaultTimeout(20000);
  const navigation = { last: undefined };
  page.on('response', (r) => {
    if (r.request().isNavigationRequest() && r.frame() === page.mainFrame()) navigation.last = r;
  });
  return { browser, context, page, navigation };
}
