package argocd

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// Each testdata file is an object captured from the running operator; its name starts with the
// health Argo CD must report: healthy-, progressing- or degraded-.
func TestHealthOfCapturedObjects(t *testing.T) {
	files, err := filepath.Glob("testdata/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no testdata (%v)", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			var obj map[string]any
			if err := yaml.Unmarshal(raw, &obj); err != nil {
				t.Fatal(err)
			}
			want, _, _ := strings.Cut(filepath.Base(f), "-")
			status, message, err := Health(obj)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.EqualFold(status, want) {
				t.Errorf("health = %s (%s), want %s", status, message, want)
			}
			if message == "" {
				t.Error("empty message")
			}
		})
	}
}

func TestHealthOfAnObjectNotYetSeen(t *testing.T) {
	status, _, err := Health(map[string]any{"metadata": map[string]any{"generation": 1.0}})
	if err != nil || status != "Progressing" {
		t.Errorf("health = %s, %v; want Progressing", status, err)
	}
}
