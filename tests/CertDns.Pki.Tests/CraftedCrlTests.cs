using System.Formats.Asn1;
using CertDns.Core;

namespace CertDns.Pki.Tests;

/// <summary>Hand-built CRLs for the structure rules no fixture covers; signatures are dummies (parsing only).</summary>
public class CraftedCrlTests
{
    private const string Sha256WithRsa = "1.2.840.113549.1.1.11";
    private const string Sha384WithRsa = "1.2.840.113549.1.1.12";

    public static TheoryData<string, string> Refused => new()
    {
        { "version0", "bad version: INTEGER 0" },
        { "version1WithExtensions", "v1 CRL must not have extensions" },
        { "version1EntryExtensions", "v1 CRL entry must not have extensions (entry 1)" },
        { "innerAlgorithmDiffers", "signature algorithm in tbsCertList (1.2.840.113549.1.1.12) differs from the outer one (1.2.840.113549.1.1.11)" },
        { "duplicateCrlExtension", "duplicate CRL extension 2.5.29.20" },
        { "unknownCriticalCrlExtension", "unknown critical CRL extension 1.3.6.1.4.1.99999.1" },
        { "reason7", "unsupported reason code 7 (entry 1)" },
        { "reasonNegative", "unsupported reason code -1 (entry 1)" },
        { "utcTimeWithoutSeconds", "invalid time encoding in thisUpdate" },
        { "utcTimeWithOffset", "invalid time encoding in nextUpdate" },
        { "revocationDateInvalid", "invalid time encoding in revocationDate (entry 1)" },
        { "entryWithoutDate", "entry has no revocationDate (entry 1)" },
        { "entryNotSequence", "malformed entry 1" },
        { "dataAfterExtensions", "unexpected" },
        { "negativeCrlNumber", "cRLNumber is negative" },
        { "noThisUpdate", "not a CRL: no thisUpdate" },
    };

    [Theory]
    [MemberData(nameof(Refused))]
    public void Parse_CraftedBadCrl_RefusedWithReason(string name, string reason)
    {
        var e = Assert.Throws<BadInputException>(() => CrlFile.Parse(Build(name), name));
        Assert.StartsWith(reason, e.Reason);
    }

    [Theory]
    [InlineData("v1Plain", 1, 1)]
    [InlineData("generalizedTimes", 2, 1)]
    [InlineData("unknownNonCriticalEntryExtension", 2, 1)]
    [InlineData("emptyRevokedSequence", 2, 0)]
    public void Parse_CraftedGoodCrl_Accepted(string name, int version, int entries)
    {
        var crl = CrlFile.Parse(Build(name), name);
        Assert.Equal(version, crl.Version);
        Assert.Equal(entries, crl.Entries().Count());
    }

    [Fact]
    public void Entries_InvalidityDateAndHoldInstruction_Read()
    {
        var crl = CrlFile.Parse(Build("invalidityAndHold"), "x");
        var entry = Assert.Single(crl.Entries());
        Assert.Equal(RevocationReason.CertificateHold, entry.Reason);
        Assert.Equal(new DateTimeOffset(2024, 5, 6, 7, 8, 9, TimeSpan.Zero), entry.InvalidityDate);
    }

    private static byte[] Build(string name)
    {
        var w = new AsnWriter(AsnEncodingRules.DER);
        using (w.PushSequence())
        {
            using (w.PushSequence())
            {
                if (name == "version0") w.WriteInteger(0);
                else if (!name.StartsWith("v1", StringComparison.Ordinal) && !name.StartsWith("version1", StringComparison.Ordinal)) w.WriteInteger(1);
                Algorithm(w, name == "innerAlgorithmDiffers" ? Sha384WithRsa : Sha256WithRsa);
                using (w.PushSequence())
                using (w.PushSetOf())
                using (w.PushSequence())
                {
                    w.WriteObjectIdentifier("2.5.4.3");
                    w.WriteCharacterString(UniversalTagNumber.UTF8String, "Crafted CA");
                }
                if (name == "noThisUpdate") goto done;
                WriteTime(w, name switch { "utcTimeWithoutSeconds" => "2401010000Z", "generalizedTimes" => "G20240101000000Z", _ => "240101000000Z" });
                WriteTime(w, name switch { "utcTimeWithOffset" => "240201000000+0100", "generalizedTimes" => "G20240201000000Z", _ => "240201000000Z" });
                if (name == "emptyRevokedSequence")
                {
                    w.PushSequence();
                    w.PopSequence();
                }
                else
                {
                    using (w.PushSequence())
                    {
                        if (name == "entryNotSequence")
                        {
                            w.WriteInteger(5);
                        }
                        else
                        {
                            using (w.PushSequence())
                            {
                                w.WriteInteger(5);
                                if (name != "entryWithoutDate")
                                {
                                    WriteTime(w, name == "revocationDateInvalid" ? "2401010000Z" : name == "generalizedTimes" ? "G20240101000000Z" : "240101000000Z");
                                }
                                WriteEntryExtensions(w, name);
                            }
                        }
                    }
                }
                WriteCrlExtensions(w, name);
                if (name == "dataAfterExtensions") w.WriteNull();
                done:;
            }
            Algorithm(w, Sha256WithRsa);
            w.WriteBitString(new byte[16]);
        }
        return w.Encode();
    }

    private static void WriteEntryExtensions(AsnWriter w, string name)
    {
        byte[]? reason = name switch
        {
            "reason7" => [0x0A, 0x01, 0x07],
            "reasonNegative" => [0x0A, 0x01, 0xFF],
            "version1EntryExtensions" or "v1Plain" or "generalizedTimes" => [0x0A, 0x01, 0x01],
            "invalidityAndHold" => [0x0A, 0x01, 0x06],
            _ => null,
        };
        if (name == "v1Plain" || (reason is null && name != "unknownNonCriticalEntryExtension")) return;
        using (w.PushSequence())
        {
            if (reason is not null) Extension(w, "2.5.29.21", false, reason);
            if (name == "unknownNonCriticalEntryExtension") Extension(w, "1.3.6.1.4.1.99999.2", false, [0x05, 0x00]);
            if (name == "invalidityAndHold")
            {
                var t = new AsnWriter(AsnEncodingRules.DER);
                t.WriteGeneralizedTime(new DateTimeOffset(2024, 5, 6, 7, 8, 9, TimeSpan.Zero));
                Extension(w, "2.5.29.24", false, t.Encode());
                var o = new AsnWriter(AsnEncodingRules.DER);
                o.WriteObjectIdentifier("1.2.840.10040.2.2"); // id-holdinstruction-callissuer
                Extension(w, "2.5.29.23", false, o.Encode());
            }
        }
    }

    private static void WriteCrlExtensions(AsnWriter w, string name)
    {
        if (name is "v1Plain" or "version1EntryExtensions" or "noThisUpdate") return;
        using (w.PushSequence(new Asn1Tag(TagClass.ContextSpecific, 0, true)))
        using (w.PushSequence())
        {
            var number = new AsnWriter(AsnEncodingRules.DER);
            number.WriteInteger(name == "negativeCrlNumber" ? -3 : 3);
            Extension(w, "2.5.29.20", false, number.Encode());
            if (name == "duplicateCrlExtension") Extension(w, "2.5.29.20", false, number.Encode());
            if (name == "unknownCriticalCrlExtension") Extension(w, "1.3.6.1.4.1.99999.1", true, [0x05, 0x00]);
        }
    }

    private static void Extension(AsnWriter w, string oid, bool critical, byte[] value)
    {
        using (w.PushSequence())
        {
            w.WriteObjectIdentifier(oid);
            if (critical) w.WriteBoolean(true);
            w.WriteOctetString(value);
        }
    }

    private static void Algorithm(AsnWriter w, string oid)
    {
        using (w.PushSequence())
        {
            w.WriteObjectIdentifier(oid);
            w.WriteNull();
        }
    }

    /// <summary>Writes a time verbatim (so malformed ones can be made): "G..." for GeneralizedTime, else UTCTime.</summary>
    private static void WriteTime(AsnWriter w, string text)
    {
        bool generalized = text.StartsWith('G');
        var body = System.Text.Encoding.ASCII.GetBytes(generalized ? text[1..] : text);
        w.WriteEncodedValue([(byte)(generalized ? 0x18 : 0x17), (byte)body.Length, .. body]);
    }
}
