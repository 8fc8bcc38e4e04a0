namespace MoeCloud.Placement.Simulation;

/// <summary>
/// Per layer, the hidden-state transfers between each ordered pod pair that a replay makes: dispatches (a token's hidden
/// state from its home to the pod serving a remote expert, and a re-home's hidden state to the new home) and combines
/// (an expert's result back to the home). Local dispatches move nothing. Each transfer is one hidden state
/// (<c>hidden × dtype bytes</c>); a token with two experts on one remote pod sends two, as the counts in
/// <see cref="SimulationMetrics"/> do. Filled by <see cref="Simulator.Run(Plans.PlacementPlan, Model.Traces.RoutingTrace, SimulationOptions, TransitionModel?, PodTraffic)"/>.
/// </summary>
public sealed class PodTraffic
{
    private readonly long[] _dispatch;
    private readonly long[] _combine;

    /// <summary>Empty traffic for <paramref name="layers"/> layers on <paramref name="pods"/> pods.</summary>
    public PodTraffic(int layers, int pods)
    {
        if (layers < 0 || pods <= 0 || (long)layers * pods * pods > int.MaxValue)
        {
            throw new ArgumentException($"traffic needs layers >= 0 and pods > 0 with layers × pods² within an array (got {layers} layers, {pods} pods).");
        }

        Layers = layers;
        Pods = pods;
        _dispatch = new long[layers * pods * pods];
        _combine = new long[layers * pods * pods];
    }

    /// <summary>Layers.</summary>
    public int Layers { get; }

    /// <summary>Pods.</summary>
    public int Pods { get; }

    /// <summary>Hidden states sent from <paramref name="from"/> to <paramref name="to"/> in layer <paramref name="layer"/>'s dispatch.</summary>
    public long Dispatches(int layer, int from, int to) => _dispatch[Cell(layer, from, to)];

    /// <summary>Expert results sent from <paramref name="from"/> back to <paramref name="to"/> in layer <paramref name="layer"/>'s combine.</summary>
    public long Combines(int layer, int from, int to) => _combine[Cell(layer, from, to)];

    /// <summary>Records a remote dispatch: the home sends the hidden state, the serving pod sends the result back.</summary>
    public void AddRemote(int layer, int home, int serving)
    {
        _dispatch[Cell(layer, home, serving)]++;
        _combine[Cell(layer, serving, home)]++;
    }

    /// <summary>Records a re-home before <paramref name="layer"/>: the hidden state moves once, nothing comes back.</summary>
    public void AddRehome(int layer, int from, int to) => _dispatch[Cell(layer, from, to)]++;

    private int Cell(int layer, int from, int to)
    {
        if ((uint)layer >= (uint)Layers || (uint)from >= (uint)Pods || (uint)to >= (uint)Pods)
        {
            throw new ArgumentOutOfRangeException(nameof(layer), $"layer {layer}, pods {from} → {to} outside {Layers} layers × {Pods} pods.");
        }

        return (((layer * Pods) + from) * Pods) + to;
    }
}
