package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes/scheme"
)

type obj = unstructured.Unstructured

// checker collects the differences found, so that one run reports all of them.
type checker struct {
	helm, kustomize string
	problems        []string
	checks          int
}

func (c *checker) errorf(format string, args ...any) {
	c.problems = append(c.problems, fmt.Sprintf(format, args...))
}

// equal records a check that got (the chart's) equals want (config/'s).
func (c *checker) equal(what string, got, want any) {
	c.checks++
	if !reflect.DeepEqual(got, want) {
		c.errorf("%s differs (- config, + chart):\n%s", what, diff(want, got))
	}
}

// diff shows where the JSON forms of two values differ: the lines between their common start
// and their common end, with a little context, at most 40 lines.
func diff(a, b any) string {
	ja, _ := json.MarshalIndent(a, "", "  ")
	jb, _ := json.MarshalIndent(b, "", "  ")
	la, lb := strings.Split(string(ja), "\n"), strings.Split(string(jb), "\n")
	pre := 0
	for pre < len(la) && pre < len(lb) && la[pre] == lb[pre] {
		pre++
	}
	suf := 0
	for suf < len(la)-pre && suf < len(lb)-pre && la[len(la)-1-suf] == lb[len(lb)-1-suf] {
		suf++
	}
	from := max(0, pre-3)
	var out []string
	for _, l := range la[from:pre] {
		out = append(out, "      "+l)
	}
	for _, l := range la[pre : len(la)-suf] {
		out = append(out, "    - "+l)
	}
	for _, l := range lb[pre : len(lb)-suf] {
		out = append(out, "    + "+l)
	}
	for _, l := range la[len(la)-suf : min(len(la), len(la)-suf+3)] {
		out = append(out, "      "+l)
	}
	if len(out) > 40 {
		out = append(out[:40], fmt.Sprintf("      ... (%d more lines)", len(out)-40))
	}
	return strings.Join(out, "\n")
}

func compare(args []string) error {
	fs := flag.NewFlagSet("compare", flag.ExitOnError)
	c := &checker{}
	fs.StringVar(&c.helm, "helm", "bin/helm", "helm binary")
	fs.StringVar(&c.kustomize, "kustomize", "bin/kustomize", "kustomize binary")
	if err := fs.Parse(args); err != nil {
		return err
	}

	defaultRender := c.compareDefault()
	c.compareNamespaced()
	c.compareMonitoring(defaultRender)
	c.compareRenamed()
	c.compareMinimal()
	c.finalizerPolicyLeftOut()
	c.refusedValues()

	if len(c.problems) > 0 {
		return fmt.Errorf("the chart does not render the install of config/ (%d problems):\n- %s",
			len(c.problems), strings.Join(c.problems, "\n- "))
	}
	fmt.Printf("chart-test: %d checks passed: the chart renders config/default + config/admission, config/namespaced and config/prometheus\n", c.checks)
	return nil
}

// --- renders ------------------------------------------------------------------------------

func run(name string, args ...string) ([]byte, error) {
	cmd := exec.Command(name, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, stderr.String())
	}
	return out, nil
}

// helmTemplate renders the chart; it fails the whole comparison if helm fails.
// mutatingPolicyAPI is what a cluster serving MutatingAdmissionPolicy (Kubernetes 1.36 and later)
// tells helm; helm template knows no kinds unless told, and renders the chart for such a cluster.
const mutatingPolicyAPI = "admissionregistration.k8s.io/v1/MutatingAdmissionPolicy"

func (c *checker) helmTemplate(rel, ns string, args ...string) []*obj {
	return c.helmTemplateFor(mutatingPolicyAPI, rel, ns, args...)
}

// helmTemplateFor renders the chart for a cluster serving api ("" for none beyond helm's
// defaults).
func (c *checker) helmTemplateFor(api, rel, ns string, args ...string) []*obj {
	if api != "" {
		args = append(args, "--api-versions", api)
	}
	out, err := run(c.helm, append([]string{"template", rel, chartDir, "--namespace", ns}, args...)...)
	if err != nil {
		fail("%v", err)
	}
	objs, err := decode(out)
	if err != nil {
		fail("helm template %s: %v", strings.Join(args, " "), err)
	}
	c.validate("helm template "+strings.Join(append([]string{rel, "-n", ns}, args...), " "), objs)
	return objs
}

func (c *checker) kustomizeBuild(dirs ...string) []*obj {
	var all []*obj
	for _, dir := range dirs {
		out, err := run(c.kustomize, "build", dir)
		if err != nil {
			fail("%v", err)
		}
		objs, err := decode(out)
		if err != nil {
			fail("kustomize build %s: %v", dir, err)
		}
		all = append(all, objs...)
	}
	return all
}

func decode(data []byte) ([]*obj, error) {
	d := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	var out []*obj
	for {
		var m map[string]any
		if err := d.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				return out, nil
			}
			return nil, err
		}
		if len(m) == 0 {
			continue
		}
		out = append(out, &obj{Object: m})
	}
}

func readFiles(ns string, paths ...string) []*obj {
	var out []*obj
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			fail("%v", err)
		}
		objs, err := decode(data)
		if err != nil {
			fail("%s: %v", p, err)
		}
		for _, o := range objs {
			o.SetNamespace(ns)
		}
		out = append(out, objs...)
	}
	return out
}

// --- validity -----------------------------------------------------------------------------

var clusterKinds = map[string]bool{
	"Namespace": true, "ClusterRole": true, "ClusterRoleBinding": true, "CustomResourceDefinition": true,
	"ValidatingAdmissionPolicy": true, "ValidatingAdmissionPolicyBinding": true,
	"MutatingAdmissionPolicy": true, "MutatingAdmissionPolicyBinding": true,
}

// validate checks every object of a render: a known kind decoded strictly into its Go type (no
// unknown or mistyped field), names and labels Kubernetes accepts, a namespace exactly on
// namespaced kinds, no duplicates, and a Deployment whose selector selects its pods.
func (c *checker) validate(render string, objs []*obj) {
	crdScheme := runtime.NewScheme()
	_ = apiextensionsv1.AddToScheme(crdScheme)
	seen := map[string]bool{}
	for _, o := range objs {
		c.checks++
		k := key(o)
		where := render + ": " + k
		if seen[k] {
			c.errorf("%s: rendered twice", where)
		}
		seen[k] = true
		if o.GetAPIVersion() == "" || o.GetKind() == "" || o.GetName() == "" {
			c.errorf("%s: apiVersion, kind or name missing", where)
			continue
		}
		for _, msg := range validation.IsDNS1123Subdomain(o.GetName()) {
			c.errorf("%s: name: %s", where, msg)
		}
		if clusterKinds[o.GetKind()] != (o.GetNamespace() == "") {
			c.errorf("%s: namespace %q on a kind that is %s", where, o.GetNamespace(), map[bool]string{true: "cluster-scoped", false: "namespaced"}[clusterKinds[o.GetKind()]])
		}
		for k, v := range o.GetLabels() {
			for _, msg := range append(validation.IsQualifiedName(k), validation.IsValidLabelValue(v)...) {
				c.errorf("%s: label %s=%s: %s", where, k, v, msg)
			}
		}
		gvk := o.GroupVersionKind()
		var typed runtime.Object
		var err error
		switch {
		case scheme.Scheme.Recognizes(gvk):
			typed, err = scheme.Scheme.New(gvk)
		case crdScheme.Recognizes(gvk):
			typed, err = crdScheme.New(gvk)
		case gvk.Group == "monitoring.coreos.com":
			if _, ok := o.Object["spec"].(map[string]any); !ok {
				c.errorf("%s: no spec", where)
			}
			continue
		default:
			c.errorf("%s: unknown kind %s", where, gvk)
			continue
		}
		if err != nil {
			c.errorf("%s: %v", where, err)
			continue
		}
		raw, _ := json.Marshal(o.Object)
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(typed); err != nil {
			c.errorf("%s: not a valid %s: %v", where, gvk.Kind, err)
		}
		if gvk.Kind == "Deployment" {
			sel, _, _ := unstructured.NestedStringMap(o.Object, "spec", "selector", "matchLabels")
			pod, _, _ := unstructured.NestedStringMap(o.Object, "spec", "template", "metadata", "labels")
			if !subset(sel, pod) || len(sel) == 0 {
				c.errorf("%s: selector %v does not select its pods %v", where, sel, pod)
			}
		}
	}
}

func key(o *obj) string {
	if o.GetNamespace() == "" {
		return o.GetKind() + "/" + o.GetName()
	}
	return o.GetKind() + "/" + o.GetNamespace() + "/" + o.GetName()
}

func index(objs []*obj) map[string]*obj {
	m := map[string]*obj{}
	for _, o := range objs {
		if o.GetKind() != "Namespace" { // the chart installs into the release's namespace
			m[key(o)] = o
		}
	}
	return m
}

func subset(a, b map[string]string) bool {
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func field(o *obj, path ...string) any {
	v, _, _ := unstructured.NestedFieldNoCopy(o.Object, path...)
	return v
}

// sameKeys checks that the chart renders exactly the objects config/ builds.
func (c *checker) sameKeys(what string, chart, config map[string]*obj) {
	c.checks++
	missing := slices.Sorted(func(yield func(string) bool) {
		for k := range config {
			if _, ok := chart[k]; !ok && !yield(k) {
				return
			}
		}
	})
	extra := slices.Sorted(func(yield func(string) bool) {
		for k := range chart {
			if _, ok := config[k]; !ok && !yield(k) {
				return
			}
		}
	})
	if len(missing) > 0 {
		c.errorf("%s: the chart lacks %s", what, strings.Join(missing, ", "))
	}
	if len(extra) > 0 {
		c.errorf("%s: the chart has more than config/: %s", what, strings.Join(extra, ", "))
	}
}

// --- the comparisons ----------------------------------------------------------------------

// compareDefault: default values against config/default + config/admission.
func (c *checker) compareDefault() map[string]*obj {
	chart := index(c.helmTemplate(release, namespace))
	config := index(c.kustomizeBuild("config/default", "config/admission"))
	const what = "default values vs config/default + config/admission"
	c.sameKeys(what, chart, config)
	for k, want := range config {
		got, ok := chart[k]
		if !ok {
			continue
		}
		c.compareObject(what+": "+k, got, want, false)
	}
	return chart
}

// compareObject compares what matters of one object for its kind; normalizeRules compares RBAC
// rules as sets of permissions rather than as written.
func (c *checker) compareObject(what string, got, want *obj, normalizeRules bool) {
	switch got.GetKind() {
	case "CustomResourceDefinition":
		g := got.DeepCopy()
		ann := g.GetAnnotations()
		delete(ann, "helm.sh/resource-policy")
		g.SetAnnotations(ann)
		g.SetLabels(want.GetLabels())
		c.equal(what, g.Object, want.Object)
	case "ClusterRole", "Role":
		if normalizeRules {
			c.equal(what+" rules", permissions(field(got, "rules")), permissions(field(want, "rules")))
		} else {
			c.equal(what+" rules", field(got, "rules"), field(want, "rules"))
		}
	case "ClusterRoleBinding", "RoleBinding":
		c.equal(what+" roleRef", field(got, "roleRef"), field(want, "roleRef"))
		c.equal(what+" subjects", field(got, "subjects"), field(want, "subjects"))
	case "Deployment":
		c.compareDeployment(what, got, want)
	case "Service":
		c.equal(what+" ports", field(got, "spec", "ports"), field(want, "spec", "ports"))
	case "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding", "MutatingAdmissionPolicy", "MutatingAdmissionPolicyBinding":
		// CEL ignores whitespace, and kustomize v5.8.0 (go-yaml v3) reads a blank line into the
		// folded expressions of config/admission/metadata_policy.yaml that the YAML spec, helm
		// and kubectl do not.
		c.equal(what+" spec (whitespace runs as one space)", squeeze(field(got, "spec")), squeeze(field(want, "spec")))
	case "PrometheusRule":
		c.equal(what+" spec", field(got, "spec"), field(want, "spec"))
	case "ServiceMonitor":
		c.equal(what+" endpoints", field(got, "spec", "endpoints"), field(want, "spec", "endpoints"))
	case "ConfigMap":
		c.equal(what+" data", field(got, "data"), field(want, "data"))
	case "ServiceAccount":
		c.checks++
	default:
		c.errorf("%s: no comparison for kind %s", what, got.GetKind())
	}
}

func (c *checker) compareDeployment(what string, got, want *obj) {
	for _, p := range [][]string{
		{"spec", "replicas"},
		{"spec", "template", "spec", "serviceAccountName"},
		{"spec", "template", "spec", "terminationGracePeriodSeconds"},
		{"spec", "template", "spec", "securityContext"},
	} {
		c.equal(what+" "+strings.Join(p, "."), field(got, p...), field(want, p...))
	}
	gc, _ := field(got, "spec", "template", "spec", "containers").([]any)
	wc, _ := field(want, "spec", "template", "spec", "containers").([]any)
	if len(gc) != 1 || len(wc) != 1 {
		c.errorf("%s: want one container each, chart has %d, config %d", what, len(gc), len(wc))
		return
	}
	g, w := gc[0].(map[string]any), wc[0].(map[string]any)
	for _, f := range []string{"name", "command", "args", "env", "ports", "securityContext", "livenessProbe", "readinessProbe", "resources"} {
		c.equal(what+" container "+f, g[f], w[f])
	}
	// The image: the same repository; the tag is the chart's appVersion, config/'s `make deploy`'s IMG.
	repo := func(image any) string { s, _ := image.(string); r, _, _ := strings.Cut(s, ":"); return r }
	c.equal(what+" container image repository", repo(g["image"]), repo(w["image"]))
	c.checks++
	pod, _, _ := unstructured.NestedStringMap(got.Object, "spec", "template", "metadata", "labels")
	wpod, _, _ := unstructured.NestedStringMap(want.Object, "spec", "template", "metadata", "labels")
	if !subset(wpod, pod) {
		c.errorf("%s: the chart's pods lack config/'s labels %v (they have %v)", what, wpod, pod)
	}
}

var spaces = regexp.MustCompile(`\s+`)

// squeeze returns v with every run of whitespace in its strings made one space.
func squeeze(v any) any {
	switch v := v.(type) {
	case string:
		return spaces.ReplaceAllString(v, " ")
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = squeeze(e)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			out[k] = squeeze(e)
		}
		return out
	}
	return v
}

// permissions flattens RBAC rules into sorted "group resource verb [name]" permissions.
func permissions(rules any) []string {
	set := map[string]bool{}
	list, _ := rules.([]any)
	for _, r := range list {
		rule, _ := r.(map[string]any)
		strs := func(k string) []string {
			var out []string
			vs, _ := rule[k].([]any)
			for _, v := range vs {
				out = append(out, fmt.Sprint(v))
			}
			if len(out) == 0 {
				out = []string{""}
			}
			return out
		}
		for _, url := range strs("nonResourceURLs") {
			for _, g := range strs("apiGroups") {
				for _, res := range strs("resources") {
					for _, v := range strs("verbs") {
						for _, n := range strs("resourceNames") {
							set[strings.Join([]string{url, g, res, v, n}, " ")] = true
						}
					}
				}
			}
		}
	}
	return slices.Sorted(maps.Keys(set))
}

// compareNamespaced: watchNamespaces against config/namespaced, config/namespaced/admission (the
// validating policies of config/admission) and the Role of config/namespaced/team applied in
// each watched namespace.
func (c *checker) compareNamespaced() {
	values := filepath.Join(chartDir, "ci", "namespaced-values.yaml")
	chartObjs := c.helmTemplate(release, namespace, "-f", values)
	chart := index(chartObjs)
	configObjs := c.kustomizeBuild("config/namespaced", "config/namespaced/admission")
	team, _ := filepath.Glob("config/namespaced/team/*.yaml")
	sort.Strings(team)
	// The namespaces config/namespaced watches, from its --watch-namespaces patch.
	var watched []string
	for _, o := range configObjs {
		if o.GetKind() != "Deployment" {
			continue
		}
		cs, _ := field(o, "spec", "template", "spec", "containers").([]any)
		for _, a := range cs[0].(map[string]any)["args"].([]any) {
			if s, ok := strings.CutPrefix(fmt.Sprint(a), "--watch-namespaces="); ok {
				watched = strings.Split(s, ",")
			}
		}
	}
	if len(watched) == 0 {
		c.errorf("config/namespaced: no --watch-namespaces")
	}
	for _, ns := range watched {
		configObjs = append(configObjs, readFiles(ns, team...)...)
	}
	config := index(configObjs)
	what := "namespaced values (" + values + ") vs config/namespaced + config/namespaced/admission + config/namespaced/team in " + strings.Join(watched, ", ")
	// config/namespaced builds no metrics Service (it does not include config/default's
	// metrics_service.yaml); the chart serves metrics the same way in both modes.
	svc := fmt.Sprintf("Service/%s/%s-controller-manager-metrics-service", namespace, release)
	if _, ok := config[svc]; !ok {
		if _, ok := chart[svc]; ok {
			fmt.Printf("chart-test: note: the namespaced render has %s, which config/namespaced lacks\n", svc)
			delete(chart, svc)
		}
	}
	c.sameKeys(what, chart, config)
	for k, want := range config {
		if got, ok := chart[k]; ok {
			c.compareObject(what+": "+k, got, want, true)
		}
	}
}

// compareMonitoring: serviceMonitor, prometheusRule and grafanaDashboard against
// config/prometheus.
func (c *checker) compareMonitoring(defaultRender map[string]*obj) {
	values := filepath.Join(chartDir, "ci", "monitoring-values.yaml")
	all := index(c.helmTemplate(release, namespace, "-f", values))
	chart := map[string]*obj{}
	for k, o := range all {
		if _, ok := defaultRender[k]; !ok {
			chart[k] = o
		}
	}
	config := index(c.kustomizeBuild("config/prometheus"))
	what := "monitoring values (" + values + ") vs config/prometheus"
	// config/prometheus's PrometheusRule holds exactly the rules file.
	rules := readFiles("", "config/prometheus/auth0-operator.rules.yaml")
	for _, o := range config {
		if o.GetKind() == "PrometheusRule" && len(rules) == 1 {
			c.equal("config/prometheus: "+key(o)+" spec vs auth0-operator.rules.yaml", field(o, "spec"), rules[0].Object)
		}
	}
	c.sameKeys(what, chart, config)
	for k, want := range config {
		if got, ok := chart[k]; ok {
			c.compareObject(what+": "+k, got, want, false)
		}
	}
	// The ServiceMonitor selects the metrics Service.
	for _, o := range chart {
		if o.GetKind() != "ServiceMonitor" {
			continue
		}
		sel, _, _ := unstructured.NestedStringMap(o.Object, "spec", "selector", "matchLabels")
		svc := all[fmt.Sprintf("Service/%s/%s-controller-manager-metrics-service", namespace, release)]
		c.checks++
		if svc == nil || !subset(sel, svc.GetLabels()) {
			c.errorf("%s: the ServiceMonitor's selector %v does not select the metrics Service", what, sel)
		}
	}
}

// compareRenamed: another release name, namespace and service account: every name, subject and
// the Secret admission policy's username follow them.
func (c *checker) compareRenamed() {
	const ns = "identity"
	objs := c.helmTemplate("acme", ns, "--set", "serviceAccount.name=robot", "--set", "defaultTenantSecret=tenant-x",
		"--set", "watchNamespaces={team-x}", "--set", "serviceMonitor.enabled=true")
	user := "system:serviceaccount:" + ns + ":robot"
	var policy bool
	for _, o := range objs {
		c.checks++
		if o.GetKind() != "CustomResourceDefinition" && !strings.HasPrefix(o.GetName(), "acme-auth0-operator") && o.GetName() != "robot" {
			c.errorf("renamed release: %s is not named after the release", key(o))
		}
		if subjects, ok := field(o, "subjects").([]any); ok {
			c.equal("renamed release: "+key(o)+" subjects", subjects, []any{map[string]any{"kind": "ServiceAccount", "name": "robot", "namespace": ns}})
		}
		switch o.GetKind() {
		case "Deployment":
			c.equal("renamed release: serviceAccountName", field(o, "spec", "template", "spec", "serviceAccountName"), "robot")
			cs, _ := field(o, "spec", "template", "spec", "containers").([]any)
			args := cs[0].(map[string]any)["args"].([]any)
			c.checks++
			if !slices.Contains(args, any("--default-tenant-secret="+ns+"/tenant-x")) || !slices.Contains(args, any("--watch-namespaces=team-x")) {
				c.errorf("renamed release: args %v lack the default tenant or the watched namespace", args)
			}
		case "Role":
			if strings.HasSuffix(o.GetName(), "-default-tenant-reader") {
				c.equal("renamed release: default tenant Role", permissions(field(o, "rules")), []string{"  secrets get tenant-x", "  secrets patch tenant-x"})
			}
		case "ValidatingAdmissionPolicy":
			raw, _ := json.Marshal(o.Object)
			if strings.Contains(string(raw), "request.userInfo.username") {
				policy = true
				c.checks++
				if !strings.Contains(string(raw), "'"+user+"'") || strings.Contains(string(raw), secretPolicyUser) {
					c.errorf("renamed release: the Secret policy does not name %s: %s", user, field(o, "spec", "matchConditions"))
				}
			}
		case "ValidatingAdmissionPolicyBinding", "MutatingAdmissionPolicyBinding":
			c.checks++
			if !strings.HasPrefix(fmt.Sprint(field(o, "spec", "policyName")), "acme-auth0-operator-") {
				c.errorf("renamed release: %s binds policy %v", key(o), field(o, "spec", "policyName"))
			}
		}
	}
	if !policy {
		c.errorf("renamed release: no Secret admission policy rendered")
	}
}

// compareMinimal: with every optional part off, the chart renders only the ServiceAccount, the
// manager's ClusterRole and binding, and the Deployment, whose args say so.
func (c *checker) compareMinimal() {
	objs := c.helmTemplate(release, namespace, "--set", "metrics.enabled=false", "--set", "leaderElection.enabled=false",
		"--set", "admissionPolicies.enabled=false", "--set", "crds.install=false")
	var kinds []string
	for _, o := range objs {
		kinds = append(kinds, o.GetKind())
		if o.GetKind() == "Deployment" {
			cs, _ := field(o, "spec", "template", "spec", "containers").([]any)
			c.equal("minimal values: args", cs[0].(map[string]any)["args"],
				[]any{"--leader-elect=false", "--metrics-bind-address=0", "--health-probe-bind-address=:8081"})
		}
	}
	sort.Strings(kinds)
	c.equal("minimal values: kinds", kinds, []string{"ClusterRole", "ClusterRoleBinding", "Deployment", "ServiceAccount"})
}

// finalizerPolicyLeftOut: the finalizer policy is rendered only for a cluster that serves
// MutatingAdmissionPolicy (1.36 and later: an older one would refuse the install), with
// admissionPolicies.finalizer, and for a cluster-wide install.
func (c *checker) finalizerPolicyLeftOut() {
	for what, objs := range map[string][]*obj{
		"a cluster older than 1.36":         c.helmTemplateFor("", release, namespace),
		"admissionPolicies.finalizer=false": c.helmTemplate(release, namespace, "--set", "admissionPolicies.finalizer=false"),
		"watchNamespaces":                   c.helmTemplate(release, namespace, "--set", "watchNamespaces={team-a}"),
	} {
		c.checks++
		validating := 0
		for _, o := range objs {
			switch o.GetKind() {
			case "MutatingAdmissionPolicy", "MutatingAdmissionPolicyBinding":
				c.errorf("%s: the chart renders %s %s", what, o.GetKind(), o.GetName())
			case "ValidatingAdmissionPolicy":
				validating++
			}
		}
		if validating != 2 {
			c.errorf("%s: %d ValidatingAdmissionPolicies rendered, want the 2 all the same", what, validating)
		}
	}
}

// refusedValues: values.schema.json refuses what the manager would refuse at start.
func (c *checker) refusedValues() {
	for _, set := range []string{
		"watchNamespaces=team-a",       // a string, not a list
		"watchNamespaces={Team_A}",     // not a namespace name
		"defaultTenantSecret=ns/name",  // a name, not NAMESPACE/NAME
		"resyncInterval=5 minutes",     // not a Go duration
		"observeInterval=30 seconds",   // not a Go duration
		"replicaCount=-1",              // negative
		"image.pullPolicy=Sometimes",   // not a pull policy
		"serviceMonitor.enable=true",   // a misspelt key
		"requireTenancyPolicy=perhaps", // not a boolean
	} {
		c.checks++
		if _, err := run(c.helm, "template", release, chartDir, "--namespace", namespace, "--set", set); err == nil {
			c.errorf("values: --set %s renders; values.schema.json should refuse it", set)
		}
	}
}
