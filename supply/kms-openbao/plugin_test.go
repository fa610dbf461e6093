package main

// These tests run the plugin against a real OpenBao server in dev mode (in memory, on
// loopback): the binary is named by SOV_BAO_BINARY. Without it they are skipped, and say so;
// the project's test suite always sets it (tests/integration/test_kms_plugin.py).

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	kmsapi "k8s.io/kms/apis/v2"
	"k8s.io/kms/pkg/service"
)

const rootToken = "sov-dev-root"

type devServer struct {
	address string
}

func startOpenBao(t *testing.T) *devServer {
	t.Helper()
	binary := os.Getenv("SOV_BAO_BINARY")
	if binary == "" {
		t.Skip("SOV_BAO_BINARY is not set: these tests need a real OpenBao binary")
	}
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := listener.Addr().String()
	listener.Close()
	cmd := exec.Command(binary, "server", "-dev", "-dev-root-token-id="+rootToken, "-dev-listen-address="+addr)
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir())
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	s := &devServer{address: "http://" + addr}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(s.address + "/v1/sys/health")
		if err == nil && resp.StatusCode == http.StatusOK {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("OpenBao dev server did not come up: %s", logs.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	s.api(t, rootToken, "POST", "sys/mounts/transit", map[string]any{"type": "transit"})
	s.api(t, rootToken, "POST", "transit/keys/kubernetes", nil)
	// The platform's consumer policy for the API server: this key, encrypt and decrypt only.
	policy := `path "transit/encrypt/kubernetes" { capabilities = ["update"] }
path "transit/decrypt/kubernetes" { capabilities = ["update"] }`
	s.api(t, rootToken, "PUT", "sys/policies/acl/kubernetes", map[string]any{"policy": policy})
	return s
}

func (s *devServer) api(t *testing.T, token, method, path string, body any) map[string]any {
	t.Helper()
	var payload bytes.Buffer
	if body != nil {
		if err := json.NewEncoder(&payload).Encode(body); err != nil {
			t.Fatal(err)
		}
	}
	req, err := http.NewRequest(method, s.address+"/v1/"+path, &payload)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Vault-Token", token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		t.Fatalf("%s %s: HTTP %d", method, path, resp.StatusCode)
	}
	out := map[string]any{}
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return out
}

// consumerToken makes a token with only the API server's policy and writes it to a file the
// way the controller ships it (an environment file).
func (s *devServer) consumerToken(t *testing.T, file string) string {
	t.Helper()
	out := s.api(t, rootToken, "POST", "auth/token/create", map[string]any{"policies": []string{"kubernetes"}})
	token := out["auth"].(map[string]any)["client_token"].(string)
	if err := os.WriteFile(file, []byte("VAULT_TOKEN="+token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return token
}

// serve runs the plugin's gRPC service on a socket, as the API server reaches it.
func serve(t *testing.T, s *devServer, tokenFile string) kmsapi.KeyManagementServiceClient {
	t.Helper()
	tr, err := newTransit(s.address, "transit", "kubernetes", tokenFile, "", 3*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	socket := filepath.Join(t.TempDir(), "kms.sock")
	svc := service.NewGRPCService(socket, 3*time.Second, &plugin{transit: tr})
	go func() { _ = svc.ListenAndServe() }()
	t.Cleanup(svc.Close)
	for i := 0; i < 100; i++ {
		if _, err := os.Stat(socket); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	conn, err := grpc.NewClient("unix://"+socket, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return kmsapi.NewKeyManagementServiceClient(conn)
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

func TestADEKWrappedByOpenBaoComesBackAndNeverRestsInPlaintext(t *testing.T) {
	s := startOpenBao(t)
	tokenFile := filepath.Join(t.TempDir(), "plugin.env")
	s.consumerToken(t, tokenFile)
	kms := serve(t, s, tokenFile)

	status, err := kms.Status(ctx(t), &kmsapi.StatusRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if status.Version != "v2" || status.Healthz != "ok" || status.KeyId != "openbao/transit/kubernetes:v1" {
		t.Fatalf("status: %+v", status)
	}
	dek := []byte("a 32-byte data encryption key..")
	enc, err := kms.Encrypt(ctx(t), &kmsapi.EncryptRequest{Plaintext: dek, Uid: "u1"})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(enc.Ciphertext, []byte("vault:v1:")) || bytes.Contains(enc.Ciphertext, dek) {
		t.Fatalf("ciphertext %q", enc.Ciphertext)
	}
	if enc.KeyId != status.KeyId {
		t.Fatalf("encrypt key id %q, status key id %q", enc.KeyId, status.KeyId)
	}
	dec, err := kms.Decrypt(ctx(t), &kmsapi.DecryptRequest{Ciphertext: enc.Ciphertext, KeyId: enc.KeyId, Uid: "u2"})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(dec.Plaintext, dek) {
		t.Fatalf("decrypted %q", dec.Plaintext)
	}
	// Bytes that OpenBao did not make are refused, not sent on.
	if _, err := kms.Decrypt(ctx(t), &kmsapi.DecryptRequest{Ciphertext: dek, KeyId: enc.KeyId, Uid: "u3"}); err == nil {
		t.Fatal("a foreign ciphertext was accepted")
	}
}

func TestARotatedKeyIsNoticedAndOlderCiphertextStillOpens(t *testing.T) {
	s := startOpenBao(t)
	tokenFile := filepath.Join(t.TempDir(), "plugin.env")
	s.consumerToken(t, tokenFile)
	kms := serve(t, s, tokenFile)
	old, err := kms.Encrypt(ctx(t), &kmsapi.EncryptRequest{Plaintext: []byte("before rotation"), Uid: "u1"})
	if err != nil {
		t.Fatal(err)
	}
	s.api(t, rootToken, "POST", "transit/keys/kubernetes/rotate", nil)
	status, err := kms.Status(ctx(t), &kmsapi.StatusRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if status.KeyId != "openbao/transit/kubernetes:v2" {
		t.Fatalf("after rotation the key id is %q", status.KeyId)
	}
	dec, err := kms.Decrypt(ctx(t), &kmsapi.DecryptRequest{Ciphertext: old.Ciphertext, KeyId: old.KeyId, Uid: "u2"})
	if err != nil || string(dec.GetPlaintext()) != "before rotation" {
		t.Fatalf("old ciphertext: %v %q", err, dec.GetPlaintext())
	}
}

func TestARevokedTokenStopsEveryCallAndNoErrorShowsAToken(t *testing.T) {
	s := startOpenBao(t)
	tokenFile := filepath.Join(t.TempDir(), "plugin.env")
	token := s.consumerToken(t, tokenFile)
	kms := serve(t, s, tokenFile)
	enc, err := kms.Encrypt(ctx(t), &kmsapi.EncryptRequest{Plaintext: []byte("secret"), Uid: "u1"})
	if err != nil {
		t.Fatal(err)
	}
	// The customer's kill switch, as the API server sees it: the key can no longer be used.
	s.api(t, rootToken, "POST", "auth/token/revoke", map[string]any{"token": token})
	var failures []string
	if _, err := kms.Status(ctx(t), &kmsapi.StatusRequest{}); err != nil {
		failures = append(failures, err.Error())
	}
	if _, err := kms.Encrypt(ctx(t), &kmsapi.EncryptRequest{Plaintext: []byte("more"), Uid: "u2"}); err != nil {
		failures = append(failures, err.Error())
	}
	if _, err := kms.Decrypt(ctx(t), &kmsapi.DecryptRequest{Ciphertext: enc.Ciphertext, KeyId: enc.KeyId, Uid: "u3"}); err != nil {
		failures = append(failures, err.Error())
	}
	if len(failures) != 3 {
		t.Fatalf("only %d of status, encrypt, decrypt failed: %v", len(failures), failures)
	}
	for _, f := range failures {
		if strings.Contains(f, token) || strings.Contains(f, rootToken) {
			t.Fatalf("an error shows a token: %s", f)
		}
	}
	// The controller ships a new token: the next call reads it, no restart.
	s.consumerToken(t, tokenFile)
	if _, err := kms.Status(ctx(t), &kmsapi.StatusRequest{}); err != nil {
		t.Fatalf("after a new token: %v", err)
	}
}

func TestTokenFilesAreReadAsTheControllerWritesThem(t *testing.T) {
	dir := t.TempDir()
	cases := map[string]string{
		"s.abc\n":                 "s.abc",
		"VAULT_TOKEN=s.abc\n":     "s.abc",
		"  s.abc==  \n":           "s.abc==",
		"VAULT_KMS_TOKEN=s.a=b\n": "s.a=b",
	}
	for content, want := range cases {
		file := filepath.Join(dir, "t")
		if err := os.WriteFile(file, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		tr := &transit{tokenFile: file}
		got, err := tr.token()
		if err != nil || got != want {
			t.Errorf("%q: got %q, %v; want %q", content, got, err, want)
		}
	}
	empty := filepath.Join(dir, "empty")
	_ = os.WriteFile(empty, nil, 0o600)
	if _, err := (&transit{tokenFile: empty}).token(); err == nil {
		t.Error("an empty token file was accepted")
	}
}
