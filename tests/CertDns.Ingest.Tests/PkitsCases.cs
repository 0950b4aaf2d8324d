using static CertDns.Ingest.Tests.PkitsOutcome;

namespace CertDns.Ingest.Tests;

/// <summary>What a PKITS path should come to, seen from one certificate's revocation status.</summary>
public enum PkitsOutcome
{
    /// <summary>The path validates: the end entity answers <c>valid</c>.</summary>
    Valid,

    /// <summary>PKITS expects CERT_REVOKED: the end entity answers <c>revoked</c> (or <c>hold</c>).</summary>
    Revoked,

    /// <summary>Any other failure (bad, missing, expired or out-of-scope CRL): never <c>valid</c>, answers <c>stale</c>.</summary>
    Stale,
}

/// <summary>One PKITS case: its section and name, the expected outcome, the path below the trust anchor (end entity
/// last) and the CRLs beside the trust anchor's.</summary>
public sealed record PkitsCase(string Id, string Name, PkitsOutcome Expected, string[] Path, string[] Crls);

/// <summary>
/// The CRL-related cases of NIST PKITS (2011 edition), our table of expectations written from the PKITS descriptions
/// (names, paths and "should validate" as in PKITS.pdf; the failure kind as openssl's test/pkits-test.pl reports it).
/// Every path starts at TrustAnchorRootCertificate.crt with TrustAnchorRootCRL.crl, left out below. The certificate
/// and CRL files themselves are read from whichever vector copy is installed (<see cref="TestData"/>).
/// </summary>
public static class PkitsCases
{
    public static readonly IReadOnlyList<PkitsCase> All =
    [
        new("4.4.1", "Missing CRL Test1", Stale, ["NoCRLCACert.crt", "InvalidMissingCRLTest1EE.crt"], []), // openssl: UNABLE_TO_GET_CRL
        new("4.4.2", "Invalid Revoked CA Test2", Revoked, ["GoodCACert.crt", "RevokedsubCACert.crt", "InvalidRevokedCATest2EE.crt"], ["GoodCACRL.crl", "RevokedsubCACRL.crl"]), // openssl: CERT_REVOKED
        new("4.4.3", "Invalid Revoked EE Test3", Revoked, ["GoodCACert.crt", "InvalidRevokedEETest3EE.crt"], ["GoodCACRL.crl"]), // openssl: CERT_REVOKED
        new("4.4.4", "Invalid Bad CRL Signature Test4", Stale, ["BadCRLSignatureCACert.crt", "InvalidBadCRLSignatureTest4EE.crt"], ["BadCRLSignatureCACRL.crl"]), // openssl: CRL_SIGNATURE_FAILURE
        new("4.4.5", "Invalid Bad CRL Issuer Name Test5", Stale, ["BadCRLIssuerNameCACert.crt", "InvalidBadCRLIssuerNameTest5EE.crt"], ["BadCRLIssuerNameCACRL.crl"]), // openssl: UNABLE_TO_GET_CRL
        new("4.4.6", "Invalid Wrong CRL Test6", Stale, ["WrongCRLCACert.crt", "InvalidWrongCRLTest6EE.crt"], ["WrongCRLCACRL.crl"]), // openssl: UNABLE_TO_GET_CRL
        new("4.4.7", "Valid Two CRLs Test7", Valid, ["TwoCRLsCACert.crt", "ValidTwoCRLsTest7EE.crt"], ["TwoCRLsCAGoodCRL.crl", "TwoCRLsCABadCRL.crl"]), // openssl: ok
        new("4.4.8", "Invalid Unknown CRL Entry Extension Test8", Stale, ["UnknownCRLEntryExtensionCACert.crt", "InvalidUnknownCRLEntryExtensionTest8EE.crt"], ["UnknownCRLEntryExtensionCACRL.crl"]), // openssl: UNHANDLED_CRITICAL_CRL_EXTENSION
        new("4.4.9", "Invalid Unknown CRL Extension Test9", Stale, ["UnknownCRLExtensionCACert.crt", "InvalidUnknownCRLExtensionTest9EE.crt"], ["UnknownCRLExtensionCACRL.crl"]), // openssl: UNHANDLED_CRITICAL_CRL_EXTENSION
        new("4.4.10", "Invalid Unknown CRL Extension Test10", Stale, ["UnknownCRLExtensionCACert.crt", "InvalidUnknownCRLExtensionTest10EE.crt"], ["UnknownCRLExtensionCACRL.crl"]), // openssl: UNHANDLED_CRITICAL_CRL_EXTENSION
        new("4.4.11", "Invalid Old CRL nextUpdate Test11", Stale, ["OldCRLnextUpdateCACert.crt", "InvalidOldCRLnextUpdateTest11EE.crt"], ["OldCRLnextUpdateCACRL.crl"]), // openssl: CRL_HAS_EXPIRED
        new("4.4.12", "Invalid pre2000 CRL nextUpdate Test12", Stale, ["pre2000CRLnextUpdateCACert.crt", "Invalidpre2000CRLnextUpdateTest12EE.crt"], ["pre2000CRLnextUpdateCACRL.crl"]), // openssl: CRL_HAS_EXPIRED
        new("4.4.13", "Valid GeneralizedTime CRL nextUpdate Test13", Valid, ["GeneralizedTimeCRLnextUpdateCACert.crt", "ValidGeneralizedTimeCRLnextUpdateTest13EE.crt"], ["GeneralizedTimeCRLnextUpdateCACRL.crl"]), // openssl: ok
        new("4.4.14", "Valid Negative Serial Number Test14", Valid, ["NegativeSerialNumberCACert.crt", "ValidNegativeSerialNumberTest14EE.crt"], ["NegativeSerialNumberCACRL.crl"]), // openssl: ok
        new("4.4.15", "Invalid Negative Serial Number Test15", Revoked, ["NegativeSerialNumberCACert.crt", "InvalidNegativeSerialNumberTest15EE.crt"], ["NegativeSerialNumberCACRL.crl"]), // openssl: CERT_REVOKED
        new("4.4.16", "Valid Long Serial Number Test16", Valid, ["LongSerialNumberCACert.crt", "ValidLongSerialNumberTest16EE.crt"], ["LongSerialNumberCACRL.crl"]), // openssl: ok
        new("4.4.17", "Valid Long Serial Number Test17", Valid, ["LongSerialNumberCACert.crt", "ValidLongSerialNumberTest17EE.crt"], ["LongSerialNumberCACRL.crl"]), // openssl: ok
        new("4.4.18", "Invalid Long Serial Number Test18", Revoked, ["LongSerialNumberCACert.crt", "InvalidLongSerialNumberTest18EE.crt"], ["LongSerialNumberCACRL.crl"]), // openssl: CERT_REVOKED
        new("4.4.19", "Valid Separate Certificate and CRL Keys Test19", Valid, ["SeparateCertificateandCRLKeysCertificateSigningCACert.crt", "SeparateCertificateandCRLKeysCRLSigningCert.crt", "ValidSeparateCertificateandCRLKeysTest19EE.crt"], ["SeparateCertificateandCRLKeysCRL.crl"]), // openssl: ok
        new("4.4.20", "Invalid Separate Certificate and CRL Keys Test20", Revoked, ["SeparateCertificateandCRLKeysCertificateSigningCACert.crt", "SeparateCertificateandCRLKeysCRLSigningCert.crt", "InvalidSeparateCertificateandCRLKeysTest20EE.crt"], ["SeparateCertificateandCRLKeysCRL.crl"]), // openssl: CERT_REVOKED
        new("4.4.21", "Invalid Separate Certificate and CRL Keys Test21", Stale, ["SeparateCertificateandCRLKeysCA2CertificateSigningCACert.crt", "SeparateCertificateandCRLKeysCA2CRLSigningCert.crt", "InvalidSeparateCertificateandCRLKeysTest21EE.crt"], ["SeparateCertificateandCRLKeysCA2CRL.crl"]), // openssl: CRL_PATH_VALIDATION_ERROR
        new("4.5.2", "Invalid Basic Self-Issued Old With New Test2", Revoked, ["BasicSelfIssuedNewKeyCACert.crt", "BasicSelfIssuedNewKeyOldWithNewCACert.crt", "InvalidBasicSelfIssuedOldWithNewTest2EE.crt"], ["BasicSelfIssuedNewKeyCACRL.crl"]), // openssl: CERT_REVOKED
        new("4.5.5", "Invalid Basic Self-Issued New With Old Test5", Revoked, ["BasicSelfIssuedOldKeyCACert.crt", "BasicSelfIssuedOldKeyNewWithOldCACert.crt", "InvalidBasicSelfIssuedNewWithOldTest5EE.crt"], ["BasicSelfIssuedOldKeySelfIssuedCertCRL.crl", "BasicSelfIssuedOldKeyCACRL.crl"]), // openssl: CERT_REVOKED
        new("4.5.6", "Valid Basic Self-Issued CRL Signing Key Test6", Valid, ["BasicSelfIssuedCRLSigningKeyCACert.crt", "BasicSelfIssuedCRLSigningKeyCRLCert.crt", "ValidBasicSelfIssuedCRLSigningKeyTest6EE.crt"], ["BasicSelfIssuedCRLSigningKeyCRLCertCRL.crl", "BasicSelfIssuedCRLSigningKeyCACRL.crl"]), // openssl: ok
        new("4.5.7", "Invalid Basic Self-Issued CRL Signing Key Test7", Revoked, ["BasicSelfIssuedCRLSigningKeyCACert.crt", "BasicSelfIssuedCRLSigningKeyCRLCert.crt", "InvalidBasicSelfIssuedCRLSigningKeyTest7EE.crt"], ["BasicSelfIssuedCRLSigningKeyCRLCertCRL.crl", "BasicSelfIssuedCRLSigningKeyCACRL.crl"]), // openssl: CERT_REVOKED
        new("4.5.8", "Invalid Basic Self-Issued CRL Signing Key Test8", Stale, ["BasicSelfIssuedCRLSigningKeyCACert.crt", "BasicSelfIssuedCRLSigningKeyCRLCert.crt", "InvalidBasicSelfIssuedCRLSigningKeyTest8EE.crt"], ["BasicSelfIssuedCRLSigningKeyCRLCertCRL.crl", "BasicSelfIssuedCRLSigningKeyCACRL.crl"]), // openssl: UNABLE_TO_GET_ISSUER_CERT_LOCALLY
        new("4.7.4", "Invalid keyUsage Critical cRLSign False Test4", Stale, ["keyUsageCriticalcRLSignFalseCACert.crt", "InvalidkeyUsageCriticalcRLSignFalseTest4EE.crt"], ["keyUsageCriticalcRLSignFalseCACRL.crl"]), // openssl: KEYUSAGE_NO_CRL_SIGN
        new("4.7.5", "Invalid keyUsage Not Critical cRLSign False Test5", Stale, ["keyUsageNotCriticalcRLSignFalseCACert.crt", "InvalidkeyUsageNotCriticalcRLSignFalseTest5EE.crt"], ["keyUsageNotCriticalcRLSignFalseCACRL.crl"]), // openssl: KEYUSAGE_NO_CRL_SIGN
        new("4.14.1", "Valid distributionPoint Test1", Valid, ["distributionPoint1CACert.crt", "ValiddistributionPointTest1EE.crt"], ["distributionPoint1CACRL.crl"]), // openssl: ok
        new("4.14.2", "Invalid distributionPoint Test2", Revoked, ["distributionPoint1CACert.crt", "InvaliddistributionPointTest2EE.crt"], ["distributionPoint1CACRL.crl"]), // openssl: CERT_REVOKED
        new("4.14.3", "Invalid distributionPoint Test3", Stale, ["distributionPoint1CACert.crt", "InvaliddistributionPointTest3EE.crt"], ["distributionPoint1CACRL.crl"]), // openssl: DIFFERENT_CRL_SCOPE
        new("4.14.4", "Valid distributionPoint Test4", Valid, ["distributionPoint1CACert.crt", "ValiddistributionPointTest4EE.crt"], ["distributionPoint1CACRL.crl"]), // openssl: ok
        new("4.14.5", "Valid distributionPoint Test5", Valid, ["distributionPoint2CACert.crt", "ValiddistributionPointTest5EE.crt"], ["distributionPoint2CACRL.crl"]), // openssl: ok
        new("4.14.6", "Invalid distributionPoint Test6", Revoked, ["distributionPoint2CACert.crt", "InvaliddistributionPointTest6EE.crt"], ["distributionPoint2CACRL.crl"]), // openssl: CERT_REVOKED
        new("4.14.7", "Valid distributionPoint Test7", Valid, ["distributionPoint2CACert.crt", "ValiddistributionPointTest7EE.crt"], ["distributionPoint2CACRL.crl"]), // openssl: ok
        new("4.14.8", "Invalid distributionPoint Test8", Stale, ["distributionPoint2CACert.crt", "InvaliddistributionPointTest8EE.crt"], ["distributionPoint2CACRL.crl"]), // openssl: DIFFERENT_CRL_SCOPE
        new("4.14.9", "Invalid distributionPoint Test9", Stale, ["distributionPoint2CACert.crt", "InvaliddistributionPointTest9EE.crt"], ["distributionPoint2CACRL.crl"]), // openssl: DIFFERENT_CRL_SCOPE
        new("4.14.10", "Valid No issuingDistributionPoint Test10", Valid, ["NoissuingDistributionPointCACert.crt", "ValidNoissuingDistributionPointTest10EE.crt"], ["NoissuingDistributionPointCACRL.crl"]), // openssl: ok
        new("4.14.11", "Invalid onlyContainsUserCerts CRL Test11", Stale, ["onlyContainsUserCertsCACert.crt", "InvalidonlyContainsUserCertsTest11EE.crt"], ["onlyContainsUserCertsCACRL.crl"]), // openssl: DIFFERENT_CRL_SCOPE
        new("4.14.12", "Invalid onlyContainsCACerts CRL Test12", Stale, ["onlyContainsCACertsCACert.crt", "InvalidonlyContainsCACertsTest12EE.crt"], ["onlyContainsCACertsCACRL.crl"]), // openssl: DIFFERENT_CRL_SCOPE
        new("4.14.13", "Valid onlyContainsCACerts CRL Test13", Valid, ["onlyContainsCACertsCACert.crt", "ValidonlyContainsCACertsTest13EE.crt"], ["onlyContainsCACertsCACRL.crl"]), // openssl: ok
        new("4.14.14", "Invalid onlyContainsAttributeCerts Test14", Stale, ["onlyContainsAttributeCertsCACert.crt", "InvalidonlyContainsAttributeCertsTest14EE.crt"], ["onlyContainsAttributeCertsCACRL.crl"]), // openssl: DIFFERENT_CRL_SCOPE
        new("4.14.15", "Invalid onlySomeReasons Test15", Revoked, ["onlySomeReasonsCA1Cert.crt", "InvalidonlySomeReasonsTest15EE.crt"], ["onlySomeReasonsCA1compromiseCRL.crl", "onlySomeReasonsCA1otherreasonsCRL.crl"]), // openssl: CERT_REVOKED
        new("4.14.16", "Invalid onlySomeReasons Test16", Revoked, ["onlySomeReasonsCA1Cert.crt", "InvalidonlySomeReasonsTest16EE.crt"], ["onlySomeReasonsCA1compromiseCRL.crl", "onlySomeReasonsCA1otherreasonsCRL.crl"]), // openssl: CERT_REVOKED
        new("4.14.17", "Invalid onlySomeReasons Test17", Stale, ["onlySomeReasonsCA2Cert.crt", "InvalidonlySomeReasonsTest17EE.crt"], ["onlySomeReasonsCA2CRL1.crl", "onlySomeReasonsCA2CRL2.crl"]), // openssl: UNABLE_TO_GET_CRL
        new("4.14.18", "Valid onlySomeReasons Test18", Valid, ["onlySomeReasonsCA3Cert.crt", "ValidonlySomeReasonsTest18EE.crt"], ["onlySomeReasonsCA3compromiseCRL.crl", "onlySomeReasonsCA3otherreasonsCRL.crl"]), // openssl: ok
        new("4.14.19", "Valid onlySomeReasons Test19", Valid, ["onlySomeReasonsCA4Cert.crt", "ValidonlySomeReasonsTest19EE.crt"], ["onlySomeReasonsCA4compromiseCRL.crl", "onlySomeReasonsCA4otherreasonsCRL.crl"]), // openssl: ok
        new("4.14.20", "Invalid onlySomeReasons Test20", Revoked, ["onlySomeReasonsCA4Cert.crt", "InvalidonlySomeReasonsTest20EE.crt"], ["onlySomeReasonsCA4compromiseCRL.crl", "onlySomeReasonsCA4otherreasonsCRL.crl"]), // openssl: CERT_REVOKED
        new("4.14.21", "Invalid onlySomeReasons Test21", Revoked, ["onlySomeReasonsCA4Cert.crt", "InvalidonlySomeReasonsTest21EE.crt"], ["onlySomeReasonsCA4compromiseCRL.crl", "onlySomeReasonsCA4otherreasonsCRL.crl"]), // openssl: CERT_REVOKED
        new("4.14.22", "Valid IDP with indirectCRL Test22", Valid, ["indirectCRLCA1Cert.crt", "ValidIDPwithindirectCRLTest22EE.crt"], ["indirectCRLCA1CRL.crl"]), // openssl: ok
        new("4.14.23", "Invalid IDP with indirectCRL Test23", Revoked, ["indirectCRLCA1Cert.crt", "InvalidIDPwithindirectCRLTest23EE.crt"], ["indirectCRLCA1CRL.crl"]), // openssl: CERT_REVOKED
        new("4.14.24", "Valid IDP with indirectCRL Test24", Valid, ["indirectCRLCA2Cert.crt", "indirectCRLCA1Cert.crt", "ValidIDPwithindirectCRLTest24EE.crt"], ["indirectCRLCA1CRL.crl"]), // openssl: ok
        new("4.14.25", "Valid IDP with indirectCRL Test25", Valid, ["indirectCRLCA2Cert.crt", "indirectCRLCA1Cert.crt", "ValidIDPwithindirectCRLTest25EE.crt"], ["indirectCRLCA1CRL.crl"]), // openssl: ok
        new("4.14.26", "Invalid IDP with indirectCRL Test26", Stale, ["indirectCRLCA2Cert.crt", "indirectCRLCA1Cert.crt", "InvalidIDPwithindirectCRLTest26EE.crt"], ["indirectCRLCA1CRL.crl"]), // openssl: DIFFERENT_CRL_SCOPE
        new("4.14.27", "Invalid cRLIssuer Test27", Stale, ["indirectCRLCA2Cert.crt", "GoodCACert.crt", "InvalidcRLIssuerTest27EE.crt"], ["GoodCACRL.crl"]), // openssl: UNABLE_TO_GET_CRL
        new("4.14.28", "Valid cRLIssuer Test28", Valid, ["indirectCRLCA3Cert.crt", "indirectCRLCA3cRLIssuerCert.crt", "ValidcRLIssuerTest28EE.crt"], ["indirectCRLCA3CRL.crl", "indirectCRLCA3cRLIssuerCRL.crl"]), // openssl: ok
        new("4.14.29", "Valid cRLIssuer Test29", Valid, ["indirectCRLCA3Cert.crt", "indirectCRLCA3cRLIssuerCert.crt", "ValidcRLIssuerTest29EE.crt"], ["indirectCRLCA3CRL.crl", "indirectCRLCA3cRLIssuerCRL.crl"]), // openssl: ok
        new("4.14.30", "Valid cRLIssuer Test30", Valid, ["indirectCRLCA4Cert.crt", "indirectCRLCA4cRLIssuerCert.crt", "ValidcRLIssuerTest30EE.crt"], ["indirectCRLCA4cRLIssuerCRL.crl"]), // openssl: CRL_PATH_VALIDATION_ERROR
        new("4.14.31", "Invalid cRLIssuer Test31", Revoked, ["indirectCRLCA5Cert.crt", "indirectCRLCA6Cert.crt", "InvalidcRLIssuerTest31EE.crt"], ["indirectCRLCA5CRL.crl"]), // openssl: CERT_REVOKED
        new("4.14.32", "Invalid cRLIssuer Test32", Revoked, ["indirectCRLCA5Cert.crt", "indirectCRLCA6Cert.crt", "InvalidcRLIssuerTest32EE.crt"], ["indirectCRLCA5CRL.crl"]), // openssl: CERT_REVOKED
        new("4.14.33", "Valid cRLIssuer Test33", Valid, ["indirectCRLCA5Cert.crt", "indirectCRLCA6Cert.crt", "ValidcRLIssuerTest33EE.crt"], ["indirectCRLCA5CRL.crl"]), // openssl: ok
        new("4.14.34", "Invalid cRLIssuer Test34", Revoked, ["indirectCRLCA5Cert.crt", "InvalidcRLIssuerTest34EE.crt"], ["indirectCRLCA5CRL.crl"]), // openssl: CERT_REVOKED
        new("4.14.35", "Invalid cRLIssuer Test35", Stale, ["indirectCRLCA5Cert.crt", "InvalidcRLIssuerTest35EE.crt"], ["indirectCRLCA5CRL.crl"]), // openssl: DIFFERENT_CRL_SCOPE
        new("4.15.1", "Invalid deltaCRLIndicator No Base Test1", Stale, ["deltaCRLIndicatorNoBaseCACert.crt", "InvaliddeltaCRLIndicatorNoBaseTest1EE.crt"], ["deltaCRLIndicatorNoBaseCACRL.crl"]), // openssl: UNABLE_TO_GET_CRL
        new("4.15.2", "Valid delta-CRL Test2", Valid, ["deltaCRLCA1Cert.crt", "ValiddeltaCRLTest2EE.crt"], ["deltaCRLCA1CRL.crl", "deltaCRLCA1deltaCRL.crl"]), // openssl: ok
        new("4.15.3", "Invalid delta-CRL Test3", Revoked, ["deltaCRLCA1Cert.crt", "InvaliddeltaCRLTest3EE.crt"], ["deltaCRLCA1CRL.crl", "deltaCRLCA1deltaCRL.crl"]), // openssl: CERT_REVOKED
        new("4.15.4", "Invalid delta-CRL Test4", Revoked, ["deltaCRLCA1Cert.crt", "InvaliddeltaCRLTest4EE.crt"], ["deltaCRLCA1CRL.crl", "deltaCRLCA1deltaCRL.crl"]), // openssl: CERT_REVOKED
        new("4.15.5", "Valid delta-CRL Test5", Valid, ["deltaCRLCA1Cert.crt", "ValiddeltaCRLTest5EE.crt"], ["deltaCRLCA1CRL.crl", "deltaCRLCA1deltaCRL.crl"]), // openssl: ok
        new("4.15.6", "Invalid delta-CRL Test6", Revoked, ["deltaCRLCA1Cert.crt", "InvaliddeltaCRLTest6EE.crt"], ["deltaCRLCA1CRL.crl", "deltaCRLCA1deltaCRL.crl"]), // openssl: CERT_REVOKED
        new("4.15.7", "Valid delta-CRL Test7", Valid, ["deltaCRLCA1Cert.crt", "ValiddeltaCRLTest7EE.crt"], ["deltaCRLCA1CRL.crl", "deltaCRLCA1deltaCRL.crl"]), // openssl: ok
        new("4.15.8", "Valid delta-CRL Test8", Valid, ["deltaCRLCA2Cert.crt", "ValiddeltaCRLTest8EE.crt"], ["deltaCRLCA2CRL.crl", "deltaCRLCA2deltaCRL.crl"]), // openssl: ok
        new("4.15.9", "Invalid delta-CRL Test9", Revoked, ["deltaCRLCA2Cert.crt", "InvaliddeltaCRLTest9EE.crt"], ["deltaCRLCA2CRL.crl", "deltaCRLCA2deltaCRL.crl"]), // openssl: CERT_REVOKED
        new("4.15.10", "Invalid delta-CRL Test10", Stale, ["deltaCRLCA3Cert.crt", "InvaliddeltaCRLTest10EE.crt"], ["deltaCRLCA3CRL.crl", "deltaCRLCA3deltaCRL.crl"]), // openssl: CRL_HAS_EXPIRED
    ];
}
