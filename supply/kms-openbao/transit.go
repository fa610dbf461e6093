package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"
)

// transit speaks to one OpenBao transit key over its HTTP API. The token is read from its file
// on every call, so a token the controller renews or replaces is used without a restart, and it
// never appears in an error.
type transit struct {
	address   string // https://host:port
	mount     string // transit
	key       string // kubernetes
	tokenFile string
	client    *http.Client
}

func newTransit(address, mount, key, tokenFile, caFile string, timeout time.Duration) (*transit, error) {
	tlsConfig := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("CA file %s holds no PEM certificate", caFile)
		}
		tlsConfig.RootCAs = pool
	}
	return &transit{
		address:   strings.TrimRight(address, "/"),
		mount:     strings.Trim(mount, "/"),
		key:       key,
		tokenFile: tokenFile,
		client:    &http.Client{Timeout: timeout, Transport: &http.Transport{TLSClientConfig: tlsConfig}},
	}, nil
}

// keyID names the transit key version that made a ciphertext: the API server records it with
// every DEK and compares it with Status's to notice a rotation.
func (t *transit) keyID(version int) string {
	return fmt.Sprintf("openbao/%s/%s:v%d", t.mount, t.key, version)
}

func (t *transit) token() (string, error) {
	raw, err := os.ReadFile(t.tokenFile)
	if err != nil {
		return "", fmt.Errorf("token file: %w", err)
	}
	token := strings.TrimSpace(string(raw))
	// The file may be an environment file (NAME=token), as the controller ships for systemd.
	if name, value, found := strings.Cut(token, "="); found && isEnvName(name) {
		token = strings.TrimSpace(value)
	}
	if token == "" {
		return "", errors.New("token file is empty")
	}
	return token, nil
}

type transitError struct {
	op     string
	status int
	errors []string
}

func (e *transitError) Error() string {
	return fmt.Sprintf("openbao transit %s: HTTP %d: %s", e.op, e.status, strings.Join(e.errors, "; "))
}

func (t *transit) call(ctx context.Context, op string, body map[string]string, out any) error {
	token, err := t.token()
	if err != nil {
		return err
	}
	payload, err := json.Marshal(body)
	if err != nil {
		return err
	}
	url := fmt.Sprintf("%s/v1/%s/%s/%s", t.address, t.mount, op, t.key)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(payload))
	if err != nil {
		return err
	}
	req.Header.Set("X-Vault-Token", token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := t.client.Do(req)
	if err != nil {
		return fmt.Errorf("openbao transit %s: %w", op, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("openbao transit %s: %w", op, err)
	}
	if resp.StatusCode != http.StatusOK {
		var failure struct {
			Errors []string `json:"errors"`
		}
		_ = json.Unmarshal(raw, &failure)
		return &transitError{op: op, status: resp.StatusCode, errors: failure.Errors}
	}
	return json.Unmarshal(raw, out)
}

// encrypt returns the transit ciphertext ("vault:vN:...") and the key version that made it.
func (t *transit) encrypt(ctx context.Context, plaintext []byte) (string, int, error) {
	var out struct {
		Data struct {
			Ciphertext string `json:"ciphertext"`
			KeyVersion int    `json:"key_version"`
		} `json:"data"`
	}
	body := map[string]string{"plaintext": base64.StdEncoding.EncodeToString(plaintext)}
	if err := t.call(ctx, "encrypt", body, &out); err != nil {
		return "", 0, err
	}
	if out.Data.Ciphertext == "" || out.Data.KeyVersion < 1 {
		return "", 0, errors.New("openbao transit encrypt: answer without ciphertext or key version")
	}
	return out.Data.Ciphertext, out.Data.KeyVersion, nil
}

func (t *transit) decrypt(ctx context.Context, ciphertext string) ([]byte, error) {
	var out struct {
		Data struct {
			Plaintext string `json:"plaintext"`
		} `json:"data"`
	}
	if err := t.call(ctx, "decrypt", map[string]string{"ciphertext": ciphertext}, &out); err != nil {
		return nil, err
	}
	return base64.StdEncoding.DecodeString(out.Data.Plaintext)
}

func isEnvName(s string) bool {
	for i, r := range s {
		letter := r == '_' || (r >= 'A' && r <= 'Z') || (r >= 'a' && r <= 'z')
		if !letter && (i == 0 || r < '0' || r > '9') {
			return false
		}
	}
	return s != ""
}
