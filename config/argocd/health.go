// Package argocd holds the Argo CD health check of the operator's kinds and runs it the way
// Argo CD does (a Lua script with the object as the global `obj`), so that tests can check it
// against real objects.
package argocd

import (
	_ "embed"
	"fmt"

	lua "github.com/yuin/gopher-lua"
)

// HealthScript is the Lua health check for Auth0User and Auth0RoleBinding.
//
//go:embed health.lua
var HealthScript string

// Health runs the health check on an object (as decoded from JSON) and returns Argo CD's status
// (Healthy, Progressing, Degraded) and message.
func Health(obj map[string]any) (status, message string, err error) {
	L := lua.NewState(lua.Options{SkipOpenLibs: false})
	defer L.Close()
	L.SetGlobal("obj", toLua(L, obj))
	if err := L.DoString(HealthScript); err != nil {
		return "", "", fmt.Errorf("health.lua: %w", err)
	}
	hs, ok := L.Get(-1).(*lua.LTable)
	if !ok {
		return "", "", fmt.Errorf("health.lua returned %s, want a table", L.Get(-1).Type())
	}
	return lua.LVAsString(hs.RawGetString("status")), lua.LVAsString(hs.RawGetString("message")), nil
}

func toLua(L *lua.LState, v any) lua.LValue {
	switch t := v.(type) {
	case nil:
		return lua.LNil
	case bool:
		return lua.LBool(t)
	case float64:
		return lua.LNumber(t)
	case int64:
		return lua.LNumber(t)
	case int:
		return lua.LNumber(t)
	case string:
		return lua.LString(t)
	case []any:
		tbl := L.NewTable()
		for _, x := range t {
			tbl.Append(toLua(L, x))
		}
		return tbl
	case map[string]any:
		tbl := L.NewTable()
		for k, x := range t {
			tbl.RawSetString(k, toLua(L, x))
		}
		return tbl
	default:
		return lua.LString(fmt.Sprint(t))
	}
}
