using MoeCloud.Model.Spec;

namespace MoeCloud.Model.Weights;

/// <summary>
/// One SwiGLU expert in memory, in float32 or bfloat16. Layout (row-major, Hugging Face <c>[out, in]</c>):
/// <c>GateUp</c> is <c>[2·intermediate, hidden]</c> with the gate rows first and the up rows after them, so one GEMM
/// computes both; <c>Down</c> is <c>[hidden, intermediate]</c>. Immutable once built; safe to share between threads.
/// </summary>
public sealed class ExpertWeights
{
    private readonly float[]? _gateUpF32;
    private readonly float[]? _downF32;
    private readonly ushort[]? _gateUpBf16;
    private readonly ushort[]? _downBf16;

    private ExpertWeights(int hidden, int intermediate, WeightDType dtype, float[]? gateUpF32, float[]? downF32, ushort[]? gateUpBf16, ushort[]? downBf16)
    {
        Hidden = hidden;
        Intermediate = intermediate;
        DType = dtype;
        _gateUpF32 = gateUpF32;
        _downF32 = downF32;
        _gateUpBf16 = gateUpBf16;
        _downBf16 = downBf16;
    }

    /// <summary>Hidden size.</summary>
    public int Hidden { get; }

    /// <summary>Intermediate size.</summary>
    public int Intermediate { get; }

    /// <summary>F32 or BF16.</summary>
    public WeightDType DType { get; }

    /// <summary>Bytes of weights held.</summary>
    public long Bytes => 3L * Hidden * Intermediate * DType.SizeOf();

    /// <summary>Gate and up rows, float32 <c>[2·intermediate, hidden]</c>.</summary>
    public ReadOnlySpan<float> GateUpF32 => _gateUpF32 ?? throw WrongType(WeightDType.F32);

    /// <summary>Down rows, float32 <c>[hidden, intermediate]</c>.</summary>
    public ReadOnlySpan<float> DownF32 => _downF32 ?? throw WrongType(WeightDType.F32);

    /// <summary>Gate and up rows, bfloat16 <c>[2·intermediate, hidden]</c>.</summary>
    public ReadOnlySpan<ushort> GateUpBf16 => _gateUpBf16 ?? throw WrongType(WeightDType.BF16);

    /// <summary>Down rows, bfloat16 <c>[hidden, intermediate]</c>.</summary>
    public ReadOnlySpan<ushort> DownBf16 => _downBf16 ?? throw WrongType(WeightDType.BF16);

    /// <summary>Builds float32 weights from owned arrays (<paramref name="gateUp"/> <c>[2I, H]</c>, <paramref name="down"/> <c>[H, I]</c>).</summary>
    public static ExpertWeights FromF32(int hidden, int intermediate, float[] gateUp, float[] down)
    {
        Check(hidden, intermediate, gateUp?.Length, down?.Length);
        return new ExpertWeights(hidden, intermediate, WeightDType.F32, gateUp, down, null, null);
    }

    /// <summary>Builds bfloat16 weights from owned arrays (<paramref name="gateUp"/> <c>[2I, H]</c>, <paramref name="down"/> <c>[H, I]</c>).</summary>
    public static ExpertWeights FromBf16(int hidden, int intermediate, ushort[] gateUp, ushort[] down)
    {
        Check(hidden, intermediate, gateUp?.Length, down?.Length);
        return new ExpertWeights(hidden, intermediate, WeightDType.BF16, null, null, gateUp, down);
    }

    /// <summary>Builds weights in <paramref name="dtype"/> (F32 or BF16) from float32 gate, up and down projections.</summary>
    public static ExpertWeights FromProjections(int hidden, int intermediate, ReadOnlySpan<float> gate, ReadOnlySpan<float> up, ReadOnlySpan<float> down, WeightDType dtype)
    {
        var n = (long)hidden * intermediate;
        if (gate.Length != n || up.Length != n || down.Length != n)
        {
            throw new ArgumentException($"Projections must each hold hidden × intermediate = {n} values (got gate {gate.Length}, up {up.Length}, down {down.Length}).");
        }

        var gateUp = new float[2 * n];
        gate.CopyTo(gateUp);
        up.CopyTo(gateUp.AsSpan((int)n));
        if (dtype == WeightDType.F32)
        {
            return FromF32(hidden, intermediate, gateUp, down.ToArray());
        }

        if (dtype != WeightDType.BF16)
        {
            throw new ArgumentException($"Expert weights are held as F32 or BF16, not {dtype}.", nameof(dtype));
        }

        var gu = new ushort[gateUp.Length];
        var d = new ushort[n];
        BFloat16.FromSingle(gateUp, gu);
        BFloat16.FromSingle(down, d);
        return FromBf16(hidden, intermediate, gu, d);
    }

    /// <summary>The weights as float32 (a copy when held as bfloat16): gate-up <c>[2I, H]</c> and down <c>[H, I]</c>.</summary>
    public (float[] GateUp, float[] Down) ToF32()
    {
        if (DType == WeightDType.F32)
        {
            return (GateUpF32.ToArray(), DownF32.ToArray());
        }

        var gateUp = new float[GateUpBf16.Length];
        var down = new float[DownBf16.Length];
        BFloat16.ToSingle(GateUpBf16, gateUp);
        BFloat16.ToSingle(DownBf16, down);
        return (gateUp, down);
    }

    private static void Check(int hidden, int intermediate, int? gateUp, int? down)
    {
        if (hidden <= 0 || intermediate <= 0)
        {
            throw new ArgumentException($"Hidden ({hidden}) and intermediate ({intermediate}) sizes must be positive.");
        }

        var n = (long)hidden * intermediate;
        if (gateUp != 2 * n || down != n)
        {
            throw new ArgumentException($"Expert weights need gate-up [{2 * intermediate}, {hidden}] ({2 * n} values) and down [{hidden}, {intermediate}] ({n}); got {gateUp} and {down}.");
        }
    }

    private InvalidOperationException WrongType(WeightDType wanted) => new($"These expert weights are {DType}, not {wanted}.");
}

/// <summary>A layer's router: <c>Weight</c> <c>[experts, hidden]</c> row-major, and the optional per-expert selection bias.</summary>
/// <param name="Experts">Routed experts.</param>
/// <param name="Hidden">Hidden size.</param>
/// <param name="Weight">Router matrix, float32 <c>[experts, hidden]</c>.</param>
/// <param name="SelectionBias">Selection bias <c>[experts]</c> (DeepSeek-V3), or null.</param>
public sealed record RouterWeights(int Experts, int Hidden, float[] Weight, float[]? SelectionBias);
