// Renders each LaTeX file given on the command line with KaTeX, failing on any error or
// strict-mode warning; prints each file's name and the length of the HTML it became.
const fs = require("fs");
const katex = require("katex");

let failed = false;
for (const file of process.argv.slice(2)) {
  const tex = fs.readFileSync(file, "utf8");
  try {
    const html = katex.renderToString(tex, {
      displayMode: true,
      throwOnError: true,
      strict: "error",
    });
    console.log(`${file} ${html.length}`);
  } catch (e) {
    failed = true;
    console.error(`${file}: ${e.message}`);
  }
}
process.exit(failed ? 1 : 0);
