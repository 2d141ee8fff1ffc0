package testenv

import "testing"

// ValidLBConfigs lists every valid vitals lb configuration in the
// repository — lb's testdata, the deployed example and lbyaml's
// every-field file — as paths relative to a package directory directly
// under internal/, for the tests that carry a file through the model, the
// store and back (internal/lbyaml, internal/controller). Load them after
// SetLBConfigEnv.
func ValidLBConfigs() []string {
	return []string{
		"../lb/testdata/valid.yaml",
		"../lb/testdata/hm-type-lowercase.yaml",
		"../../deploy/lb/lb.yaml",
		"../lbyaml/testdata/every-field.yaml",
	}
}

// SetLBConfigEnv sets the variables the valid configurations name in
// password_env, for the test's duration.
func SetLBConfigEnv(t *testing.T) {
	t.Setenv("VITALS_PG_PASSWORD", "secret")
	t.Setenv("LBYAML_TEST_PASSWORD", "secret")
}
