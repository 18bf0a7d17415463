import type { ErrorObject } from "./errors.js";

/** JSON-RPC 2.0 message shapes (https://www.jsonrpc.org/specification). */
export type RequestId = number | string;

export interface RequestMessage {
  jsonrpc: "2.0";
  id: RequestId;
  method: string;
  params?: unknown;
}

export interface NotificationMessage {
  jsonrpc: "2.0";
  method: string;
  params?: unknown;
}

export interface SuccessResponse {
  jsonrpc: "2.0";
  id: RequestId;
  result: unknown;
}

export interface ErrorResponse {
  jsonrpc: "2.0";
  id: RequestId | null;
  error: ErrorObject;
}

export type ResponseMessage = SuccessResponse | ErrorResponse;
export type Message = RequestMessage | NotificationMessage | ResponseMessage;

export function isRequest(m: Message): m is RequestMessage {
  return "method" in m && "id" in m && m.id !== undefined && m.id !== null;
}

export function isNotification(m: Message): m is NotificationMessage {
  return "method" in m && !("id" in m && m.id !== undefined && m.id !== null);
}

export function isResponse(m: Message): m is ResponseMessage {
  return !("method" in m) && ("result" in m || "error" in m);
}
