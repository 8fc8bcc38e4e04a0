using System.Globalization;
using MoeCloud.Cli.Hosting;
using MoeCloud.Model.Spec;
using MoeCloud.Placement.Plans;

namespace MoeCloud.Cli.Commands;

/// <summary>
/// <c>moectl export</c>: a plan as the physical-to-logical map of SGLang (<c>--init-expert-location</c>) or vLLM (its
/// EPLB state), through <see cref="PhysicalExpertMap"/> and <see cref="EngineMapFile"/>.
/// </summary>
public static class ExportCommand
{
    /// <summary>Registers the command.</summary>
    public static void Register(Moectl app)
    {
        ArgumentNullException.ThrowIfNull(app);
        app.Add(new CliCommand(
            "export",
            "Write a plan as SGLang's --init-expert-location JSON or vLLM's EPLB physical_to_logical_map.",
            "",
            [
                new("plan", "<plan.json> the plan (required); each of its pods is one EP rank"),
                new("format", "<sglang|vllm> the engine (required)"),
                new("ep-size", "<N> EP ranks (required); must equal the plan's pods"),
                new("redundant", "<R> redundant experts per layer, as the engine is launched with (default: the fewest that hold the plan)"),
                new("model", "<dir> checkpoint directory: its hidden layers (sglang writes one row per hidden layer, dense ones included) and a shape check"),
                new("out", "<file.json> where to write (default: standard output)"),
            ],
            Run));
    }

    private static async Task<int> Run(CliArgs args, CliConsole console, CancellationToken ct)
    {
        var planPath = args.Require("plan");
        var format = args.GetChoice("format", "", "sglang", "vllm");
        args.Require("ep-size");
        var ranks = args.GetInt("ep-size", 0, 1, 1 << 20);

        var plan = PlanFile.Load(planPath);
        var spec = EngineModel.Read(args.Get("model"));
        if (spec is not null && (spec.MoeLayers != plan.Layers || spec.Experts != plan.Experts))
        {
            throw new InvalidDataException(
                $"{planPath}: the plan has {plan.Layers} MoE layers x {plan.Experts} experts, the model {args.Get("model")} has {spec.MoeLayers} x {spec.Experts}");
        }

        int? physical = args.Has("redundant") ? plan.Experts + args.GetInt("redundant", 0, 0, 1 << 20) : null;
        PhysicalExpertLayout layout;
        try
        {
            layout = PhysicalExpertMap.FromPlan(plan, ranks, physical);
        }
        catch (ArgumentException e)
        {
            throw new InvalidDataException($"{planPath}: {e.Message.Replace($" (Parameter '{e.ParamName}')", "", StringComparison.Ordinal)}", e);
        }

        var rows = format == "sglang" && spec is not null ? HiddenLayerRows(layout, spec) : layout.Map;
        var redundant = layout.PhysicalExperts - plan.Experts;
        var outPath = args.Get("out");
        if (outPath is null)
        {
            await console.Out.WriteAsync(EngineMapFile.ToJson(rows));
        }
        else
        {
            EngineMapFile.Save(outPath, rows);
        }

        var where = outPath ?? "standard output";
        var inv = CultureInfo.InvariantCulture;
        await console.Error.WriteLineAsync(string.Create(inv,
            $"wrote {format} physical_to_logical_map [{rows.Length} layers][{layout.PhysicalExperts} physical experts = {plan.Experts} logical + {redundant} redundant] to {where}: {layout.SlotsPerRank} slots per rank on {ranks} ranks, rank r holds slots [r*{layout.SlotsPerRank}, (r+1)*{layout.SlotsPerRank})"));
        if (layout.Padded > 0)
        {
            await console.Error.WriteLineAsync(string.Create(inv,
                $"padded {layout.Padded} slots where a pod holds fewer replicas of a layer than {layout.SlotsPerRank} (second copies of experts already on that rank; both engines need equal slots per rank)"));
        }

        if (format == "sglang")
        {
            if (spec is null)
            {
                await console.Error.WriteLineAsync(string.Create(inv,
                    $"no --model: wrote the plan's {plan.Layers} MoE layers as rows 0..{plan.Layers - 1}; SGLang wants one row per hidden layer, dense ones included, so pass --model when the model has dense layers"));
            }
            else if (spec.Layers > spec.MoeLayers)
            {
                await console.Error.WriteLineAsync(string.Create(inv,
                    $"{spec.Layers - spec.MoeLayers} dense layers get SGLang's trivial row (slot i -> expert i mod {plan.Experts}); SGLang does not read them"));
            }

            await console.Error.WriteLineAsync(string.Create(inv,
                $"launch SGLang with: --ep-size {ranks} --ep-num-redundant-experts {redundant} --init-expert-location {(outPath ?? "<file.json>")}"));
        }
        else
        {
            await console.Error.WriteLineAsync(string.Create(inv,
                $"vLLM: --enable-expert-parallel --enable-eplb --eplb-config '{{\"num_redundant_experts\": {redundant}}}' on {ranks} EP ranks; vLLM has no option that loads this map from a file, it is the layout of EplbState.physical_to_logical_map [MoE layers][physical experts]"));
        }

        return Moectl.Ok;
    }

    /// <summary>One row per hidden layer: the plan's MoE layers where the model has them, SGLang's trivial row elsewhere.</summary>
    private static int[][] HiddenLayerRows(PhysicalExpertLayout layout, ModelSpec spec)
    {
        var experts = spec.Experts;
        var trivial = Enumerable.Range(0, layout.PhysicalExperts).Select(i => i % experts).ToArray();
        var rows = Enumerable.Range(0, spec.Layers).Select(_ => trivial).ToArray();
        for (var m = 0; m < spec.MoeLayers; m++)
        {
            rows[spec.MoeLayerIndices[m]] = layout.Map[m];
        }

        return rows;
    }
}
