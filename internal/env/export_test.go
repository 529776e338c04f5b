package env

// policyBindingGVR is exported to the external tests.
var PolicyBindingGVRForTest = policyGVR("ValidatingAdmissionPolicyBinding")
