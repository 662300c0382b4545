package emulator

import (
	"encoding/json"
	"net/http"
)

// apiError is Auth0's error body: {"statusCode":400,"error":"Bad Request","message":"...",
// "errorCode":"invalid_body"}.
type apiError struct {
	StatusCode int    `json:"statusCode"`
	Error      string `json:"error"`
	Message    string `json:"message"`
	ErrorCode  string `json:"errorCode,omitempty"`
}

func writeError(w http.ResponseWriter, status int, code, message string) {
	writeJSON(w, status, apiError{StatusCode: status, Error: http.StatusText(status), Message: message, ErrorCode: code})
}

func badRequest(w http.ResponseWriter, message string) {
	writeError(w, http.StatusBadRequest, "invalid_body", message)
}

func notFound(w http.ResponseWriter, code, message string) {
	writeError(w, http.StatusNotFound, code, message)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	if v != nil {
		_ = json.NewEncoder(w).Encode(v)
	}
}

// decodeBody reads a JSON request body into v, answering Auth0's 400 when it is not JSON.
func decodeBody(w http.ResponseWriter, r *http.Request, v any) bool {
	if err := json.NewDecoder(r.Body).Decode(v); err != nil {
		badRequest(w, "Payload validation error: 'Invalid JSON'.")
		return false
	}
	return true
}

// decodeList reads the list of ids in a body's property ({"roles": [...]}), answering Auth0's
// 400 unless it holds at least one.
func decodeList(w http.ResponseWriter, r *http.Request, property string) ([]string, bool) {
	var body map[string]json.RawMessage
	var items []string
	if json.NewDecoder(r.Body).Decode(&body) != nil || json.Unmarshal(body[property], &items) != nil || len(items) == 0 {
		badRequest(w, "Payload validation error: 'Too few items (0), minimum 1' on property "+property+".")
		return nil, false
	}
	return items, true
}
