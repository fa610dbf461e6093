package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"

	"k8s.io/kms/pkg/service"
)

// plugin is the KMS v2 service the API server calls to wrap and unwrap its data encryption keys.
// The key encryption key never leaves OpenBao: what the API server stores is OpenBao's
// ciphertext of its DEK, so revoking the token (or sealing OpenBao) stops every new DEK and
// every cold read, which is the customer's kill switch.
type plugin struct {
	transit *transit
}

var _ service.Service = (*plugin)(nil)

func (p *plugin) Encrypt(ctx context.Context, _ string, data []byte) (*service.EncryptResponse, error) {
	ciphertext, version, err := p.transit.encrypt(ctx, data)
	if err != nil {
		return nil, err
	}
	return &service.EncryptResponse{Ciphertext: []byte(ciphertext), KeyID: p.transit.keyID(version)}, nil
}

func (p *plugin) Decrypt(ctx context.Context, _ string, req *service.DecryptRequest) ([]byte, error) {
	ciphertext := string(req.Ciphertext)
	if !strings.HasPrefix(ciphertext, "vault:v") {
		return nil, errors.New("ciphertext was not made by OpenBao transit")
	}
	return p.transit.decrypt(ctx, ciphertext)
}

// Status proves the key can still be used (a round trip through OpenBao, never a cached answer)
// and names its current version, so the API server notices a rotation within its status period.
func (p *plugin) Status(ctx context.Context) (*service.StatusResponse, error) {
	probe := make([]byte, 32)
	if _, err := rand.Read(probe); err != nil {
		return nil, err
	}
	ciphertext, version, err := p.transit.encrypt(ctx, probe)
	if err != nil {
		return nil, err
	}
	back, err := p.transit.decrypt(ctx, ciphertext)
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(back, probe) {
		return nil, fmt.Errorf("openbao transit round trip returned other bytes")
	}
	return &service.StatusResponse{Version: "v2", Healthz: "ok", KeyID: p.transit.keyID(version)}, nil
}
