import { Ajv, type ErrorObject, type ValidateFunction } from "ajv";
import addFormatsModule from "ajv-formats";

// ajv-formats is CommonJS; under NodeNext its default export sits on `.default`.
type AddFormats = (ajv: Ajv) => Ajv;
const addFormats: AddFormats =
  (addFormatsModule as unknown as { default?: AddFormats }).default ?? (addFormatsModule as unknown as AddFormats);

/** One ajv for the whole process: compiled validators are cached by schema object. */
export const ajv = new Ajv({ allErrors: true, strict: false, coerceTypes: false, useDefaults: true });
addFormats(ajv);

export type { ErrorObject, ValidateFunction };

export interface SchemaProblem {
  path: string;
  message: string;
}

/** ajv's errors as `{path, message}` a person can read: `/count must be integer`. */
export function describeErrors(errors: ErrorObject[] | null | undefined): SchemaProblem[] {
  return (errors ?? []).map((e) => {
    let path = e.instancePath || "/";
    let message = e.message ?? "is invalid";
    if (e.keyword === "required") {
      const missing = (e.params as { missingProperty: string }).missingProperty;
      path = `${e.instancePath}/${missing}`;
      message = "is required";
    } else if (e.keyword === "additionalProperties") {
      path = `${e.instancePath}/${(e.params as { additionalProperty: string }).additionalProperty}`;
      message = "is not allowed";
    } else if (e.keyword === "enum") {
      message = `must be one of ${JSON.stringify((e.params as { allowedValues: unknown[] }).allowedValues)}`;
    }
    return { path, message };
  });
}

export function summarize(problems: SchemaProblem[], max = 3): string {
  const shown = problems.slice(0, max).map((p) => `${p.path} ${p.message}`);
  const more = problems.length > max ? ` (and ${problems.length - max} more)` : "";
  return shown.join("; ") + more;
}
