package problem

import "net/http"

// Code is a stable, machine-readable error or reason code. Codes are part of
// the public contract: they are never renamed or removed, only added.
type Code string

// Info describes a code: the HTTP status a server answers with, the exit code
// the echt CLI ends with, and a short title for people.
type Info struct {
	Code   Code
	Status int
	Exit   int
	Title  string
}

// Generic request and server codes.
const (
	InvalidRequest   Code = "INVALID_REQUEST"
	RequestTooLarge  Code = "REQUEST_TOO_LARGE"
	Unauthorized     Code = "UNAUTHORIZED"
	Forbidden        Code = "FORBIDDEN"
	NotFound         Code = "NOT_FOUND"
	MethodNotAllowed Code = "METHOD_NOT_ALLOWED"
	Conflict         Code = "CONFLICT"
	RateLimited      Code = "RATE_LIMITED"
	Internal         Code = "INTERNAL"
	StoreUnavailable Code = "STORE_UNAVAILABLE"
	Unavailable      Code = "UNAVAILABLE"
)

// Catalog and administration codes.
const (
	ProductNotFound  Code = "PRODUCT_NOT_FOUND"
	ProductExists    Code = "PRODUCT_EXISTS"
	SKUNotFound      Code = "SKU_NOT_FOUND"
	SKUExists        Code = "SKU_EXISTS"
	KeyNotFound      Code = "KEY_NOT_FOUND"
	TokenNotFound    Code = "TOKEN_NOT_FOUND"
	InvalidPolicy    Code = "INVALID_POLICY"
	KeyspaceExhaust  Code = "KEYSPACE_EXHAUSTED"
	SigningKeyAbsent Code = "SIGNING_KEY_NOT_FOUND"
)

// Product key, activation and validation codes (reason codes).
const (
	Genuine                 Code = "GENUINE"
	Activated               Code = "ACTIVATED"
	AlreadyActivated        Code = "ALREADY_ACTIVATED"
	DigitalLicense          Code = "DIGITAL_LICENSE"
	NotActivated            Code = "NOT_ACTIVATED"
	GracePeriod             Code = "GRACE_PERIOD"
	KeyInvalid              Code = "KEY_INVALID"
	KeyTypo                 Code = "KEY_TYPO"
	KeyBlocked              Code = "KEY_BLOCKED"
	KeyInUseElsewhere       Code = "KEY_IN_USE_ELSEWHERE"
	ActivationLimitReached  Code = "ACTIVATION_LIMIT_REACHED"
	SKUMismatch             Code = "SKU_MISMATCH"
	NoDigitalLicense        Code = "NO_DIGITAL_LICENSE"
	HardwareChanged         Code = "HARDWARE_CHANGED"
	ActivationNotFound      Code = "ACTIVATION_NOT_FOUND"
	ActivationRevoked       Code = "ACTIVATION_REVOKED"
	DeactivationNotAllowed  Code = "DEACTIVATION_NOT_ALLOWED"
	LicenseTampered         Code = "LICENSE_TAMPERED"
	LicenseMissing          Code = "LICENSE_MISSING"
	LicenseExpired          Code = "LICENSE_EXPIRED"
	ClockTampered           Code = "CLOCK_TAMPERED"
	ReactivatedWithOtherKey Code = "REACTIVATED_WITH_OTHER_KEY"
	ProductMismatch         Code = "PRODUCT_MISMATCH"
	HardwareProfileInvalid  Code = "HARDWARE_PROFILE_INVALID"
)

// Client-side codes: produced by the SDK and the agent, never by a server.
const (
	ServerUnreachable Code = "SERVER_UNREACHABLE"
	ServerUntrusted   Code = "SERVER_UNTRUSTED"
	StoreCorrupt      Code = "LOCAL_STORE_ERROR"
)

// table lists every code. Exit codes are unique per code so scripts can act
// on them; 1 is a generic failure and 2 a usage error in the CLI.
var table = map[Code]Info{
	InvalidRequest:   {InvalidRequest, http.StatusBadRequest, 10, "The request is not valid"},
	RequestTooLarge:  {RequestTooLarge, http.StatusRequestEntityTooLarge, 11, "The request body is too large"},
	Unauthorized:     {Unauthorized, http.StatusUnauthorized, 12, "A valid API token is required"},
	Forbidden:        {Forbidden, http.StatusForbidden, 13, "The token's role does not allow this"},
	NotFound:         {NotFound, http.StatusNotFound, 14, "No such resource"},
	MethodNotAllowed: {MethodNotAllowed, http.StatusMethodNotAllowed, 15, "Method not allowed"},
	Conflict:         {Conflict, http.StatusConflict, 16, "The request conflicts with the current state"},
	RateLimited:      {RateLimited, http.StatusTooManyRequests, 17, "Too many requests"},
	Internal:         {Internal, http.StatusInternalServerError, 18, "Internal server error"},
	StoreUnavailable: {StoreUnavailable, http.StatusServiceUnavailable, 19, "The database is unavailable"},
	Unavailable:      {Unavailable, http.StatusServiceUnavailable, 20, "The service is unavailable"},

	ProductNotFound:  {ProductNotFound, http.StatusNotFound, 30, "No such product"},
	ProductExists:    {ProductExists, http.StatusConflict, 31, "A product with this id exists"},
	SKUNotFound:      {SKUNotFound, http.StatusNotFound, 32, "No such SKU"},
	SKUExists:        {SKUExists, http.StatusConflict, 33, "A SKU with this id exists"},
	KeyNotFound:      {KeyNotFound, http.StatusNotFound, 34, "No such product key"},
	TokenNotFound:    {TokenNotFound, http.StatusNotFound, 35, "No such API token"},
	InvalidPolicy:    {InvalidPolicy, http.StatusUnprocessableEntity, 36, "The SKU policy is not valid"},
	KeyspaceExhaust:  {KeyspaceExhaust, http.StatusConflict, 37, "The SKU has no serial numbers left"},
	SigningKeyAbsent: {SigningKeyAbsent, http.StatusNotFound, 38, "No such signing key"},

	Genuine:                 {Genuine, http.StatusOK, 0, "Genuine"},
	Activated:               {Activated, http.StatusOK, 0, "Activated"},
	AlreadyActivated:        {AlreadyActivated, http.StatusOK, 0, "Already activated on this device"},
	DigitalLicense:          {DigitalLicense, http.StatusOK, 0, "Activated with this device's digital license"},
	NotActivated:            {NotActivated, http.StatusConflict, 50, "Not activated"},
	GracePeriod:             {GracePeriod, http.StatusOK, 51, "Not activated yet: grace period"},
	KeyInvalid:              {KeyInvalid, http.StatusUnprocessableEntity, 52, "The product key is not valid"},
	KeyTypo:                 {KeyTypo, http.StatusUnprocessableEntity, 53, "The product key has a typing error"},
	KeyBlocked:              {KeyBlocked, http.StatusForbidden, 54, "The product key is blocked"},
	KeyInUseElsewhere:       {KeyInUseElsewhere, http.StatusConflict, 55, "The product key is in use on another device"},
	ActivationLimitReached:  {ActivationLimitReached, http.StatusConflict, 56, "The product key has reached its activation limit"},
	SKUMismatch:             {SKUMismatch, http.StatusUnprocessableEntity, 57, "The product key is for another product"},
	NoDigitalLicense:        {NoDigitalLicense, http.StatusNotFound, 58, "This device has no digital license"},
	HardwareChanged:         {HardwareChanged, http.StatusConflict, 59, "The hardware changed too much"},
	ActivationNotFound:      {ActivationNotFound, http.StatusNotFound, 60, "No such activation"},
	ActivationRevoked:       {ActivationRevoked, http.StatusForbidden, 61, "The activation was revoked"},
	DeactivationNotAllowed:  {DeactivationNotAllowed, http.StatusConflict, 62, "This license cannot be moved to another device"},
	LicenseTampered:         {LicenseTampered, http.StatusUnprocessableEntity, 63, "The license files were changed or damaged"},
	LicenseMissing:          {LicenseMissing, http.StatusNotFound, 64, "The license files are missing"},
	LicenseExpired:          {LicenseExpired, http.StatusForbidden, 65, "The license has expired"},
	ClockTampered:           {ClockTampered, http.StatusUnprocessableEntity, 66, "The system clock was set back"},
	ReactivatedWithOtherKey: {ReactivatedWithOtherKey, http.StatusConflict, 67, "Activated with another key after a repair"},
	ProductMismatch:         {ProductMismatch, http.StatusUnprocessableEntity, 68, "The license is for another product"},
	HardwareProfileInvalid:  {HardwareProfileInvalid, http.StatusBadRequest, 69, "The hardware profile is not valid"},

	ServerUnreachable: {ServerUnreachable, http.StatusServiceUnavailable, 80, "No activation server could be reached"},
	ServerUntrusted:   {ServerUntrusted, http.StatusBadGateway, 81, "The server's answer is not signed by the publisher"},
	StoreCorrupt:      {StoreCorrupt, http.StatusInternalServerError, 82, "The local license store cannot be used"},
}

// Lookup returns the Info of a code and whether the code is known.
func Lookup(c Code) (Info, bool) {
	i, ok := table[c]
	return i, ok
}

// Codes returns every known code's Info, in no particular order.
func Codes() []Info {
	out := make([]Info, 0, len(table))
	for _, i := range table {
		out = append(out, i)
	}
	return out
}

// Status returns the HTTP status of a code, 500 for an unknown one.
func (c Code) Status() int {
	if i, ok := table[c]; ok {
		return i.Status
	}
	return http.StatusInternalServerError
}

// ExitCode returns the CLI exit code of a code, 1 for an unknown one.
func (c Code) ExitCode() int {
	if i, ok := table[c]; ok {
		return i.Exit
	}
	return 1
}

// Title returns the short human title of a code.
func (c Code) Title() string {
	if i, ok := table[c]; ok {
		return i.Title
	}
	return string(c)
}
