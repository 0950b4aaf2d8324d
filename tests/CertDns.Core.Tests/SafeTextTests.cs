namespace CertDns.Core.Tests;

/// <summary>SafeText: what may leave in a line-framed protocol.</summary>
public class SafeTextTests
{
    [Theory]
    [InlineData("spam run\n\naction=OK", "spam run  action=OK")]
    [InlineData("cr\rnul\0tab\tesc\u001b[31m", "cr nul tab esc [31m")]
    [InlineData("del\u007f c1\u0085 ls\u2028 ps\u2029", "del  c1  ls  ps ")]
    [InlineData("Zürich café ☃", "Zürich café ☃")]
    [InlineData("", "")]
    public void OneLine_ControlCharactersBecomeSpaces_OthersKept(string input, string expected)
    {
        Assert.Equal(expected, SafeText.OneLine(input));
        Assert.False(SafeText.HasUnsafe(SafeText.OneLine(input)));
    }

    [Fact]
    public void RequireOneLine_LineBreak_RefusedNamingTheOption()
    {
        var e = Assert.Throws<BadInputException>(() => SafeText.RequireOneLine("a\nb", "--reason"));
        Assert.Equal("--reason", e.Input);
        Assert.Equal("plain words", SafeText.RequireOneLine("plain words", "--reason"));
    }
}
