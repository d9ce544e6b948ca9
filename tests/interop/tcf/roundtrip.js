// Batch bridge to the official IAB library for tests/test_tcf_interop.py.
// Reads one JSON document on stdin: {"encode": [model, ...], "decode": [tcString, ...]}.
// Writes one JSON document on stdout: {"encoded": [...], "decoded": [...]}, where each item is
// either the result or {"error": "<message>"}. One process handles the whole batch.
'use strict';

const { GVL, TCModel, TCString, PurposeRestriction } = require('@iabtechlabtcf/core');

// The official encoder needs a GVL and drops any signal the GVL does not back (vendors not on
// it, purposes a vendor does not declare, restrictions on non-flexible purposes). A synthetic
// GVL in which every vendor 1..maxId declares every purpose makes that filter a no-op, so the
// model we send is exactly the model that gets encoded.
const PURPOSES = {};
for (let i = 1; i <= 11; i++) PURPOSES[i] = { id: i, name: `p${i}`, description: '', illustrations: [] };
const SPECIAL_PURPOSES = { 1: { id: 1, name: 'sp1', description: '', illustrations: [] } };
const FEATURES = { 1: { id: 1, name: 'f1', description: '', illustrations: [] } };
const SPECIAL_FEATURES = {};
for (let i = 1; i <= 12; i++) SPECIAL_FEATURES[i] = { id: i, name: `sf${i}`, description: '', illustrations: [] };
const ALL = Array.from({ length: 11 }, (_, i) => i + 1);
const FLEX = ALL.slice(1);
const ONE = [1];
const TWO = [2];

function gvlFor(m) {
  // Vendors under a restriction declare every purpose (flexibly, so every restriction type is
  // allowed); the others declare one purpose per legal basis, which keeps the GVL (cloned twice
  // per encode by the library) small. Ids are dense up to the highest one: the library's
  // restriction encoder joins ranges across ids missing from the GVL.
  let maxId = 1;
  const restricted = new Set();
  const bump = (ids) => ids.forEach((id) => { if (id > maxId) maxId = id; });
  bump(m.vendorConsents); bump(m.vendorLegitimateInterests);
  bump(m.vendorsDisclosed || []); bump(m.vendorsAllowed || []);
  m.publisherRestrictions.forEach((r) => { bump(r.vendors); r.vendors.forEach((v) => restricted.add(v)); });
  const vendors = {};
  // m.gvlVendorIds: a sparse GVL (like the real one), to compare restriction encodings on it
  const ids = m.gvlVendorIds || Array.from({ length: maxId }, (_, i) => i + 1);
  for (const id of ids) {
    const full = restricted.has(id);
    vendors[id] = {
      id, name: '', purposes: full ? ALL : ONE, legIntPurposes: full ? FLEX : TWO,
      flexiblePurposes: full ? FLEX : [], specialPurposes: [], features: [], specialFeatures: [],
    };
  }
  GVL.emptyCache();
  return new GVL({
    gvlSpecificationVersion: 3, vendorListVersion: m.vendorListVersion,
    tcfPolicyVersion: m.policyVersion, lastUpdated: '2026-01-01T00:00:00Z',
    purposes: PURPOSES, specialPurposes: SPECIAL_PURPOSES, features: FEATURES,
    specialFeatures: SPECIAL_FEATURES, stacks: {}, dataCategories: {}, vendors,
  }, { language: m.consentLanguage });
}

function encode(m) {
  const tc = new TCModel(gvlFor(m));
  tc.created = new Date(m.created);
  tc.lastUpdated = new Date(m.lastUpdated);
  tc.cmpId = m.cmpId;
  tc.cmpVersion = m.cmpVersion;
  tc.consentScreen = m.consentScreen;
  tc.isServiceSpecific = m.isServiceSpecific;
  tc.useNonStandardTexts = m.useNonStandardTexts;
  tc.purposeOneTreatment = m.purposeOneTreatment;
  tc.publisherCountryCode = m.publisherCountryCode;
  tc.specialFeatureOptins.set(m.specialFeatureOptins);
  tc.purposeConsents.set(m.purposeConsents);
  tc.purposeLegitimateInterests.set(m.purposeLegitimateInterests);
  tc.vendorConsents.set(m.vendorConsents);
  tc.vendorLegitimateInterests.set(m.vendorLegitimateInterests);
  m.publisherRestrictions.forEach((r) => {
    const pr = new PurposeRestriction(r.purposeId, r.restrictionType);
    r.vendors.forEach((v) => tc.publisherRestrictions.add(v, pr));
  });
  const segments = ['core'];
  if (m.vendorsDisclosed) { segments.push('vendorsDisclosed'); tc.vendorsDisclosed.set(m.vendorsDisclosed); }
  if (m.vendorsAllowed) { segments.push('vendorsAllowed'); tc.vendorsAllowed.set(m.vendorsAllowed); }
  if (m.publisherTC) {
    segments.push('publisherTC');
    const p = m.publisherTC;
    tc.publisherConsents.set(p.purposeConsents);
    tc.publisherLegitimateInterests.set(p.purposeLegitimateInterests);
    tc.numCustomPurposes = p.numCustomPurposes;
    tc.publisherCustomConsents.set(p.customPurposeConsents);
    tc.publisherCustomLegitimateInterests.set(p.customPurposeLegitimateInterests);
  }
  return TCString.encode(tc, { segments });
}

const ids = (vector) => Array.from(vector.values()).sort((a, b) => a - b);

function decode(s) {
  const tc = TCString.decode(s);
  const restrictions = {};
  tc.publisherRestrictions.getRestrictions().forEach((pr) => {
    restrictions[`${pr.purposeId}-${pr.restrictionType}`] = tc.publisherRestrictions.getVendors(pr);
  });
  return {
    version: tc.version,
    created: tc.created.getTime(),
    lastUpdated: tc.lastUpdated.getTime(),
    cmpId: tc.cmpId,
    cmpVersion: tc.cmpVersion,
    consentScreen: tc.consentScreen,
    consentLanguage: tc.consentLanguage,
    vendorListVersion: tc.vendorListVersion,
    policyVersion: tc.policyVersion,
    isServiceSpecific: tc.isServiceSpecific,
    useNonStandardTexts: tc.useNonStandardTexts,
    specialFeatureOptins: ids(tc.specialFeatureOptins),
    purposeConsents: ids(tc.purposeConsents),
    purposeLegitimateInterests: ids(tc.purposeLegitimateInterests),
    purposeOneTreatment: tc.purposeOneTreatment,
    publisherCountryCode: tc.publisherCountryCode,
    vendorConsents: ids(tc.vendorConsents),
    vendorLegitimateInterests: ids(tc.vendorLegitimateInterests),
    publisherRestrictions: restrictions,
    vendorsDisclosed: ids(tc.vendorsDisclosed),
    vendorsAllowed: ids(tc.vendorsAllowed),
    publisherTC: {
      purposeConsents: ids(tc.publisherConsents),
      purposeLegitimateInterests: ids(tc.publisherLegitimateInterests),
      numCustomPurposes: tc.numCustomPurposes,
      customPurposeConsents: ids(tc.publisherCustomConsents),
      customPurposeLegitimateInterests: ids(tc.publisherCustomLegitimateInterests),
    },
  };
}

function guard(fn, arg) {
  try { return fn(arg); } catch (err) { return { error: String(err && err.message || err) }; }
}

let input = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk) => { input += chunk; });
process.stdin.on('end', () => {
  const job = JSON.parse(input);
  const out = {
    encoded: (job.encode || []).map((m) => guard(encode, m)),
    decoded: (job.decode || []).map((s) => guard(decode, s)),
  };
  if (job.benchDecode) {
    // benchmarks/bench_tcf.py: seconds for `rounds` passes of TCString.decode over the strings
    const strings = job.benchDecode;
    strings.forEach((s) => TCString.decode(s));
    const started = process.hrtime.bigint();
    for (let r = 0; r < job.rounds; r++) strings.forEach((s) => TCString.decode(s));
    out.benchSeconds = Number(process.hrtime.bigint() - started) / 1e9;
  }
  process.stdout.write(JSON.stringify(out));
});
