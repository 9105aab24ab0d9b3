// Saves a PNG of each page: `node screenshot.mjs '[{"url": ..., "file": ..., "cookie": ...}]'`.
// Prints one JSON line per page with the navigation status, so a test can check what was shot.
import { openLoopbackPage } from './chromium.mjs';

const shots = JSON.parse(process.argv[2] || '[]');
const { browser, page, navigation } = await openLoopbackPage();
try {
  await page.setViewportSize({ width: 900, height: 640 });
  for (const shot of shots) {
    await page.setExtraHTTPHeaders(shot.cookie ? { cookie: shot.cookie } : {});
    await page.goto(shot.url);
    await page.screenshot({ path: shot.file });
    console.log(JSON.stringify({
      url: shot.url,
      file: shot.file,
      status: navigation.last ? navigation.last.status() : null,
      title: await page.title(),
    }));
  }
} finally {
  await browser.close();
}
