// Package deploy holds no code: it is the home of the tests that check the
// deployment artifacts (Dockerfile, Kubernetes manifests, systemd unit,
// Prometheus rules, Grafana dashboard) parse and agree with each other and
// with the daemon's configuration.
package deploy

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/schemacanary/schemacanary/internal/app"
	"gopkg.in/yaml.v3"
)

// k8sObject is the part of a Kubernetes object the checks read.
type k8sObject struct {
	APIVersion string         `yaml:"apiVersion"`
	Kind       string         `yaml:"kind"`
	Metadata   map[string]any `yaml:"metadata"`
	Spec       yaml.Node      `yaml:"spec"`
	Data       map[string]string
}

// decodeAll reads every YAML document of a file.
func decodeAll(t *testing.T, path string) []k8sObject {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	var out []k8sObject
	for {
		var o k8sObject
		err := dec.Decode(&o)
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		out = append(out, o)
	}
}

// deploymentSpec is the subset of a Deployment spec the checks read.
type deploymentSpec struct {
	Replicas int `yaml:"replicas"`
	Selector struct {
		MatchLabels map[string]string `yaml:"matchLabels"`
	} `yaml:"selector"`
	Template struct {
		Metadata struct {
			Labels map[string]string `yaml:"labels"`
		} `yaml:"metadata"`
		Spec struct {
			Containers []struct {
				Name  string   `yaml:"name"`
				Args  []string `yaml:"args"`
				Ports []struct {
					Name          string `yaml:"name"`
					ContainerPort int    `yaml:"containerPort"`
				} `yaml:"ports"`
				Env []struct {
					Name      string `yaml:"name"`
					ValueFrom struct {
						SecretKeyRef struct {
							Name string `yaml:"name"`
							Key  string `yaml:"key"`
						} `yaml:"secretKeyRef"`
					} `yaml:"valueFrom"`
				} `yaml:"env"`
				VolumeMounts []struct {
					Name      string `yaml:"name"`
					MountPath string `yaml:"mountPath"`
				} `yaml:"volumeMounts"`
				LivenessProbe  probe `yaml:"livenessProbe"`
				ReadinessProbe probe `yaml:"readinessProbe"`
			} `yaml:"containers"`
			Volumes []struct {
				Name   string `yaml:"name"`
				Secret struct {
					SecretName string `yaml:"secretName"`
					Items      []struct {
						Key  string `yaml:"key"`
						Path string `yaml:"path"`
					} `yaml:"items"`
				} `yaml:"secret"`
			} `yaml:"volumes"`
		} `yaml:"spec"`
	} `yaml:"template"`
}

type probe struct {
	HTTPGet struct {
		Path string `yaml:"path"`
		Port string `yaml:"port"`
	} `yaml:"httpGet"`
}

func TestKubernetesManifests(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob(filepath.Join("kubernetes", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests: %v", err)
	}
	byKind := map[string]k8sObject{}
	for _, f := range files {
		for _, o := range decodeAll(t, f) {
			if o.Kind == "" {
				t.Errorf("%s: a document without kind", f)
				continue
			}
			if o.Kind != "Kustomization" && o.Metadata["name"] == nil {
				t.Errorf("%s: %s without metadata.name", f, o.Kind)
			}
			byKind[o.Kind] = o
		}
	}
	for _, k := range []string{"Deployment", "Service", "ConfigMap", "Kustomization", "PodDisruptionBudget"} {
		if _, ok := byKind[k]; !ok {
			t.Fatalf("no %s manifest", k)
		}
	}

	var d deploymentSpec
	dep := byKind["Deployment"]
	if err := dep.Spec.Decode(&d); err != nil {
		t.Fatal(err)
	}
	if d.Replicas != 2 {
		t.Errorf("replicas = %d, want 2 (one leader, one standby)", d.Replicas)
	}
	for k, v := range d.Selector.MatchLabels {
		if d.Template.Metadata.Labels[k] != v {
			t.Errorf("selector %s=%s does not match the pod labels", k, v)
		}
	}
	var svc struct {
		Selector map[string]string `yaml:"selector"`
	}
	svcObj := byKind["Service"]
	if err := svcObj.Spec.Decode(&svc); err != nil {
		t.Fatal(err)
	}
	for k, v := range svc.Selector {
		if d.Template.Metadata.Labels[k] != v {
			t.Errorf("service selector %s=%s selects no pod", k, v)
		}
	}
	if len(d.Template.Spec.Containers) != 1 {
		t.Fatalf("want one container, got %d", len(d.Template.Spec.Containers))
	}
	c := d.Template.Spec.Containers[0]
	if c.LivenessProbe.HTTPGet.Path != "/healthz" || c.ReadinessProbe.HTTPGet.Path != "/readyz" {
		t.Errorf("probes: liveness %q, readiness %q; want /healthz and /readyz", c.LivenessProbe.HTTPGet.Path, c.ReadinessProbe.HTTPGet.Path)
	}
	if len(c.Args) < 3 || c.Args[0] != "run" || c.Args[1] != "-c" {
		t.Errorf("container args %v: want run -c CONFIG", c.Args)
	}

	// The configuration in the ConfigMap is what the daemon will load.
	cm := byKind["ConfigMap"]
	src, ok := cm.Data["schemacanary.yaml"]
	if !ok {
		t.Fatal("ConfigMap has no schemacanary.yaml")
	}
	cfg, err := app.ParseConfig([]byte(src))
	if err != nil {
		t.Fatalf("ConfigMap config: %v", err)
	}
	mounted := map[string]bool{}
	for _, m := range c.VolumeMounts {
		if m.Name == "config" && !strings.HasPrefix(c.Args[2], m.MountPath+"/") {
			t.Errorf("config mounted at %s but the daemon reads %s", m.MountPath, c.Args[2])
		}
		for _, v := range d.Template.Spec.Volumes {
			if v.Name == m.Name {
				for _, it := range v.Secret.Items {
					mounted[filepath.Join(m.MountPath, it.Path)] = true
				}
			}
		}
	}
	env := map[string]bool{}
	for _, e := range c.Env {
		env[e.Name] = true
		if e.ValueFrom.SecretKeyRef.Name == "" {
			t.Errorf("env %s: secrets come from a secretKeyRef", e.Name)
		}
	}
	for _, in := range cfg.Fleet.Instances {
		if in.DSNFile != "" && !mounted[in.DSNFile] {
			t.Errorf("instance %s reads %s, which no Secret volume provides", in.Name, in.DSNFile)
		}
		if in.DSNEnv != "" && !env[in.DSNEnv] {
			t.Errorf("instance %s reads $%s, which the container does not set", in.Name, in.DSNEnv)
		}
	}
	for _, name := range []string{cfg.Control.DSNEnv, cfg.Repo.TokenEnv, cfg.HTTP.WebhookSecretEnv} {
		if name != "" && !env[name] {
			t.Errorf("the config reads $%s, which the container does not set", name)
		}
	}
	if !strings.HasSuffix(cfg.HTTP.Listen, ":8080") || strings.HasPrefix(cfg.HTTP.Listen, "127.") {
		t.Errorf("http.listen %q: in a pod it must listen on all interfaces at the container port", cfg.HTTP.Listen)
	}
}

func TestDockerfileStages(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	var froms []string
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) > 1 && strings.EqualFold(f[0], "FROM") {
			froms = append(froms, f[1])
		}
	}
	if len(froms) != 2 || !strings.HasPrefix(froms[0], "golang:") || !strings.HasPrefix(froms[1], "debian:") {
		t.Errorf("stages %v: want a golang builder and a debian runtime", froms)
	}
	if !strings.Contains(string(b), "CGO_ENABLED=1") || !strings.Contains(string(b), "./cmd/schemacanary") {
		t.Error("the builder must build ./cmd/schemacanary with cgo (pg_query)")
	}
	// Builder and runtime must be the same Debian release (glibc).
	rel := func(img string) string { return img[strings.LastIndex(img, "-")+1:] }
	if strings.TrimSuffix(rel(froms[0]), " AS build") != strings.TrimSuffix(strings.TrimPrefix(froms[1], "debian:"), "-slim") {
		t.Errorf("builder %s and runtime %s are different Debian releases", froms[0], froms[1])
	}
}

func TestSystemdUnit(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile(filepath.Join("systemd", "schemacanary.service"))
	if err != nil {
		t.Fatal(err)
	}
	sections := map[string]map[string]string{}
	var cur string
	for i, l := range strings.Split(string(b), "\n") {
		l = strings.TrimSpace(l)
		switch {
		case l == "" || strings.HasPrefix(l, "#"):
		case strings.HasPrefix(l, "[") && strings.HasSuffix(l, "]"):
			cur = strings.Trim(l, "[]")
			sections[cur] = map[string]string{}
		default:
			k, v, ok := strings.Cut(l, "=")
			if !ok || cur == "" {
				t.Fatalf("line %d: %q is not key=value inside a section", i+1, l)
			}
			sections[cur][k] = v
		}
	}
	for _, s := range []string{"Unit", "Service", "Install"} {
		if sections[s] == nil {
			t.Errorf("no [%s] section", s)
		}
	}
	if !strings.Contains(sections["Service"]["ExecStart"], "schemacanary run -c ") {
		t.Errorf("ExecStart %q does not run the daemon", sections["Service"]["ExecStart"])
	}
	if sections["Service"]["Restart"] != "always" || sections["Service"]["User"] == "" {
		t.Error("the unit must restart always and run as its own user")
	}
}
