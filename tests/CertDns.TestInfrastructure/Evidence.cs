using System.Text;

namespace CertDns.TestInfrastructure;

/// <summary>Complaint evidence: spam messages shaped like the ones abuse desks receive.</summary>
public static class Evidence
{
    /// <summary>A distinct spam message (the n-th), as a reporter would attach it as evidence.</summary>
    public static byte[] Spam(int n) => Encoding.UTF8.GetBytes(
        $"""
        Received: from mx.spammer.example (mx.spammer.example [192.0.2.7]) by mail.victim.example; Fri, 20 Nov 2026 08:00:0{n % 10} +0000
        From: "Cheap Pills" <offers{n}@spammer.example>
        To: someone@victim.example
        Subject: Offer number {n}
        Date: Fri, 20 Nov 2026 08:00:00 +0000
        Message-ID: <{n}.{Guid.NewGuid():N}@spammer.example>

        Buy now.
        """.Replace("\n", "\r\n", StringComparison.Ordinal));
}
