/** A finding about a plugin's config that does not stop the request; the shape N.E.K.O's config API returns. */
export interface ConfigWarning {
  code: string;
  /** Dotted key the finding is about. */
  field: string;
  message: string;
  severity: "info" | "warning" | "error";
  /** The file (or env variable) it comes from. */
  source: string;
}
