import { parse, stringify, TomlError } from "smol-toml";
import { ApiError } from "../http/errors.js";
import { isTable, type Table } from "./merge.js";

/**
 * TOML text ↔ config documents. Parse errors become 400 INVALID_TOML with the line and column, so an editor can put
 * the cursor on the problem. Keys such as `__proto__` are refused at parse time: they would be a prototype-pollution
 * vector once the document is merged.
 */
export function parseToml(text: string, what = "the TOML"): Table {
  try {
    return parse(text.replace(/^\uFEFF/, ""), { unsafeKeyBehaviour: "throw" }) as Table;
  } catch (e) {
    if (e instanceof TomlError) {
      const why = (e.message.split("\n")[0] ?? "").replace(/^Invalid TOML document:\s*/, "");
      throw new ApiError(
        400,
        "INVALID_TOML",
        `${what} is not valid TOML at line ${e.line}, column ${e.column}: ${why}`,
        {
          line: e.line,
          column: e.column,
          codeblock: e.codeblock,
        },
      );
    }
    throw e;
  }
}

/**
 * Renders a document as TOML, after checking that TOML can hold it: TOML has no null, and smol-toml would drop a
 * null silently — the key would vanish from the file without a word, so it is an error here.
 */
export function renderToml(doc: Table, what = "config"): string {
  const problems: string[] = [];
  checkRepresentable(doc, [], problems);
  if (problems.length > 0) {
    throw new ApiError(400, "INVALID_CONFIG", `${what} cannot be written as TOML: ${problems.slice(0, 3).join("; ")}`, {
      problems,
      hint: "TOML has no null: remove the key instead.",
    });
  }
  return stringify(doc);
}

function checkRepresentable(v: unknown, at: string[], out: string[]): void {
  const where = () => (at.length ? at.join(".") : "the document");
  if (v === null || v === undefined) {
    out.push(`${where()} is null`);
  } else if (Array.isArray(v)) {
    v.forEach((x, i) => {
      checkRepresentable(x, [...at.slice(0, -1), `${at.at(-1) ?? ""}[${i}]`], out);
    });
  } else if (typeof v === "object" && !(v instanceof Date)) {
    if (!isTable(v)) {
      out.push(`${where()} is not a plain table`);
      return;
    }
    for (const [k, x] of Object.entries(v)) checkRepresentable(x, [...at, k], out);
  } else if (typeof v === "function" || typeof v === "symbol") {
    out.push(`${where()} is a ${typeof v}`);
  }
}
