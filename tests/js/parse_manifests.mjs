// Read IIIF documents as viewers built on @iiif/parser do (Clover, the Canvas Panel and
// Theseus family): 2.1 is upgraded to 3.0 first, then the strict upgrade, normalize (the
// Traverse that merges every entity by id and type) and serialize back to 3.0.
//
//   node tests/js/parse_manifests.mjs VIEWER_DIR LIST.json
//
// LIST.json is [{"name", "file", "version"}]; prints one JSON report per document:
// {"name", "type", "viewingDirection", "warnings": [...], "error"}. Exit 0 even when a
// document fails: the caller decides.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join, resolve } from "node:path";

const [viewerDir, listFile] = process.argv.slice(2);
const require = createRequire(join(resolve(viewerDir), "package.json"));
const { normalize, serialize, serializeConfigPresentation3 } = require("@iiif/parser");
const { upgrade } = require("@iiif/parser/upgrader");
const { presentation3StrictUpgrade } = require("@iiif/parser/strict");

function read(entry) {
  const warnings = [];
  const console_ = { warn: console.warn, error: console.error };
  console.warn = (...args) => warnings.push(args.map(String).join(" "));
  console.error = (...args) => warnings.push(args.map(String).join(" "));
  try {
    let document = JSON.parse(readFileSync(entry.file, "utf8"));
    if (entry.version === 2) document = upgrade(document);
    if (document.type === "Manifest") {
      const state = { warnings: [] };
      document = presentation3StrictUpgrade(document, state);
      warnings.push(...state.warnings);
    }
    const { entities, resource, mapping } = normalize(document);
    const top = entities[resource.type][resource.id];
    const store = { entities, mapping, requests: {} };
    const again = serialize(store, resource, serializeConfigPresentation3);
    if (!again || again.id !== document.id) throw new Error("serialize lost the document's id");
    return { type: resource.type, viewingDirection: top.viewingDirection, warnings, error: null };
  } catch (error) {
    return { warnings, error: String(error && error.stack ? error.stack : error) };
  } finally {
    Object.assign(console, console_);
  }
}

for (const entry of JSON.parse(readFileSync(listFile, "utf8"))) {
  console.log(JSON.stringify({ name: entry.name, ...read(entry) }));
}
