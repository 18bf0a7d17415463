package plugd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
)

// Error codes on the wire (packages/protocol/src/errors.ts). JSON-RPC reserves the negative range; plugd's business
// errors are positive.
const (
	CodeParseError     = -32700
	CodeInvalidRequest = -32600
	CodeMethodNotFound = -32601
	CodeInvalidParams  = -32602
	CodeInternalError  = -32603

	CodeEntryNotFound     = 1001
	CodeInvalidInput      = 1002
	CodeTimeout           = 1003
	CodeCancelled         = 1004
	CodePluginUnavailable = 1005
	CodeCircularCall      = 1006
	CodeBusy              = 1007
	CodeMessageTooLarge   = 1008
	CodeConnectionClosed  = 1009
	CodePermissionDenied  = 1010
	CodeVersionMismatch   = 1011
	CodePluginCrashed     = 1012
	CodeEntryFailed       = 1013
	CodePluginNotFound    = 1014
)

var codeNames = map[int]string{
	CodeParseError:        "PARSE_ERROR",
	CodeInvalidRequest:    "INVALID_REQUEST",
	CodeMethodNotFound:    "METHOD_NOT_FOUND",
	CodeInvalidParams:     "INVALID_PARAMS",
	CodeInternalError:     "INTERNAL_ERROR",
	CodeEntryNotFound:     "ENTRY_NOT_FOUND",
	CodeInvalidInput:      "INVALID_INPUT",
	CodeTimeout:           "TIMEOUT",
	CodeCancelled:         "CANCELLED",
	CodePluginUnavailable: "PLUGIN_UNAVAILABLE",
	CodeCircularCall:      "CIRCULAR_CALL",
	CodeBusy:              "BUSY",
	CodeMessageTooLarge:   "MESSAGE_TOO_LARGE",
	CodeConnectionClosed:  "CONNECTION_CLOSED",
	CodePermissionDenied:  "PERMISSION_DENIED",
	CodeVersionMismatch:   "VERSION_MISMATCH",
	CodePluginCrashed:     "PLUGIN_CRASHED",
	CodeEntryFailed:       "ENTRY_FAILED",
	CodePluginNotFound:    "PLUGIN_NOT_FOUND",
}

var codeHints = map[int]string{
	CodeEntryNotFound:    "List the plugin's entries (GET /plugins) and call one of those.",
	CodeInvalidInput:     "Fix the input so it matches the entry's input schema (details lists each problem).",
	CodeTimeout:          "Raise the timeout (per call, per entry or in the manifest's [limits]) or make the entry faster.",
	CodeCancelled:        "The call was cancelled by its caller; retry it if that was not intended.",
	CodeMessageTooLarge:  "Send large data as a blob/upload, or raise [limits] max_message_bytes.",
	CodeConnectionClosed: "The plugin process went away; check its logs. plugd restarts it per its restart policy.",
	CodeVersionMismatch:  "Upgrade the plugin's SDK or plugd so both speak the same protocol major version.",
}

// CodeName is plugd's symbolic name of a numeric code (1004 → "CANCELLED"), or "" for a code plugd does not define.
func CodeName(code int) string { return codeNames[code] }

// Error is an error that crosses the wire: a JSON-RPC error object. Entry handlers return one (usually from
// [NewError]) to fail with their own code; errors the host answers to reverse calls arrive as *Error too.
type Error struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
	// Data is anything JSON; plugd puts the symbolic code in data.code. Errors received from the host carry
	// it as a json.RawMessage.
	Data any `json:"data,omitempty"`

	cause error
}

// Unwrap returns the error this one stands for, if any (context.Canceled for a reverse call whose context was
// cancelled).
func (e *Error) Unwrap() error { return e.cause }

func (e *Error) Error() string {
	if s := e.Symbol(); s != "" {
		return fmt.Sprintf("%s (%d): %s", s, e.Code, e.Message)
	}
	return fmt.Sprintf("error %d: %s", e.Code, e.Message)
}

// Symbol is the symbolic code: data.code if the error carries one (a plugin's own code, e.g. "CITY_UNKNOWN"),
// else plugd's name for the number ("TIMEOUT").
func (e *Error) Symbol() string {
	switch d := e.Data.(type) {
	case map[string]any:
		if s, ok := d["code"].(string); ok {
			return s
		}
	case json.RawMessage:
		var v struct {
			Code any `json:"code"`
		}
		if json.Unmarshal(d, &v) == nil {
			if s, ok := v.Code.(string); ok {
				return s
			}
		}
	}
	return CodeName(e.Code)
}

// NewError is a failure an entry reports on purpose, with its own symbolic code:
//
//	return nil, plugd.NewError("CITY_UNKNOWN", "no such city", map[string]any{"city": name})
//
// It reaches the caller as error 1013 (ENTRY_FAILED) with data {"code": "CITY_UNKNOWN", "details": …}, and the run's
// error keeps that code. details may be nil.
func NewError(code, message string, details any) *Error {
	data := map[string]any{"code": code}
	if details != nil {
		data["details"] = details
	}
	return &Error{Code: CodeEntryFailed, Message: message, Data: data}
}

// ErrorOf builds one of plugd's own errors by number (CodeInvalidInput, CodeCancelled, …): data.code is the
// symbolic name, data.hint says what to do about it, and the fields of extra are added to data.
func ErrorOf(code int, message string, extra map[string]any) *Error {
	data := map[string]any{}
	if name := CodeName(code); name != "" {
		data["code"] = name
	}
	if hint := codeHints[code]; hint != "" {
		data["hint"] = hint
	}
	for k, v := range extra {
		data[k] = v
	}
	return &Error{Code: code, Message: message, Data: data}
}

// toWireError turns what a handler returned into the error sent to the host. cancelled says whether the request
// was cancelled (by `$/cancelRequest` or the connection closing) before the handler returned.
func toWireError(err error, cancelled bool) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	if cancelled || errors.Is(err, context.Canceled) {
		return ErrorOf(CodeCancelled, "the request was cancelled", nil)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return ErrorOf(CodeTimeout, err.Error(), nil)
	}
	return &Error{Code: CodeEntryFailed, Message: err.Error(), Data: map[string]any{"code": "ENTRY_FAILED"}}
}
