using MoeCloud.Placement.Plans;

namespace MoeCloud.Placement.Simulation;

/// <summary>Chooses every token's first home under a <see cref="HomePolicy"/> (token or request granularity).</summary>
internal sealed class HomeAssigner(PlacementPlan plan, RoutingView routing, SimulationOptions options, SpeculativeHomePredictor? predictor)
{
    private readonly long[] _loads = new long[plan.PodCount];
    private readonly double[] _scores = new double[plan.PodCount];
    private readonly int[] _counts = new int[plan.PodCount];
    private readonly Random _random = new(options.Seed);

    public int[] Assign() => options.Granularity switch
    {
        Granularity.Token => PerToken(),
        Granularity.Auto => Auto(),
        _ => PerRequest(),
    };

    /// <summary>Pod scores counting every dispatch of <paramref name="token"/> in layers [from, to) local on a pod.</summary>
    public static void AddLocalCounts(PlacementPlan plan, RoutingView routing, int token, int from, int to, Span<double> scores, double weight = 1)
    {
        for (var l = from; l < to; l++)
        {
            foreach (var e in routing.Slots(token, l))
            {
                foreach (var p in plan.PodsOf(l, e))
                {
                    scores[p] += weight;
                }
            }
        }
    }

    private int[] PerToken()
    {
        var homes = new int[routing.Tokens];
        var lastOfSequence = new Dictionary<int, int>();
        for (var t = 0; t < routing.Tokens; t++)
        {
            var previous = lastOfSequence.TryGetValue(routing.SeqIds[t], out var prev) ? prev : -1;
            homes[t] = options.Home switch
            {
                HomePolicy.Random => _random.Next(plan.PodCount),
                HomePolicy.Oracle => Oracle(t),
                HomePolicy.FirstLayer => Scored(t, useFirstLayer: true, previous: -1),
                HomePolicy.Sequence => previous >= 0 ? Scored(t, useFirstLayer: false, previous) : Scored(t, useFirstLayer: true, previous: -1),
                HomePolicy.Speculative => predictor!.PickHome(routing.Slots(t, 0), previous >= 0 ? routing.Routing(previous) : [], _loads, previousHome: previous >= 0 ? homes[previous] : -1),
                _ => throw new ArgumentOutOfRangeException(nameof(options), options.Home, "unknown home policy"),
            };
            _loads[homes[t]]++;
            lastOfSequence[routing.SeqIds[t]] = t;
        }

        return homes;
    }

    private int[] PerRequest()
    {
        var homes = new int[routing.Tokens];
        foreach (var tokens in routing.Sequences())
        {
            Array.Clear(_scores);
            foreach (var t in tokens)
            {
                switch (options.Home)
                {
                    case HomePolicy.Oracle:
                        AddLocalCounts(plan, routing, t, 0, plan.Layers, _scores);
                        break;
                    case HomePolicy.FirstLayer:
                        AddLocalCounts(plan, routing, t, 0, 1, _scores);
                        break;
                    case HomePolicy.Speculative:
                        predictor!.AddScores(routing.Slots(t, 0), [], _scores, 0, plan.Layers);
                        break;
                    default:
                        break;
                }
            }

            var home = options.Home switch
            {
                HomePolicy.Random => _random.Next(plan.PodCount),
                HomePolicy.Oracle => HomeChooser.ArgMax(_scores),
                _ => HomeChooser.Pick(_scores, _loads, tokens.Count, options.Speculative.HomeSlack),
            };
            foreach (var t in tokens)
            {
                homes[t] = home;
            }

            _loads[home] += tokens.Count;
        }

        return homes;
    }

    /// <summary><see cref="Granularity.Auto"/>, as the gateway does it (<see cref="SplitRule.Home"/>), one sequence at a time.</summary>
    private int[] Auto()
    {
        var homes = new int[routing.Tokens];
        foreach (var tokens in routing.Sequences())
        {
            var known = new short[tokens.Count * routing.TopK];
            for (var i = 0; i < tokens.Count; i++)
            {
                routing.Slots(tokens[i], 0).CopyTo(known.AsSpan(i * routing.TopK, routing.TopK));
            }

            var chosen = options.Split!.Home(predictor!, known, routing.TopK, [], _loads, 0, plan.Layers, options.Speculative.HomeSlack);
            for (var i = 0; i < tokens.Count; i++)
            {
                homes[tokens[i]] = chosen[i];
                _loads[chosen[i]]++;
            }
        }

        return homes;
    }

    private int Oracle(int token) => BestHome.Of(plan, 0, routing.Routing(token), routing.TopK, _counts);

    private int Scored(int token, bool useFirstLayer, int previous)
    {
        Array.Clear(_scores);
        if (useFirstLayer)
        {
            AddLocalCounts(plan, routing, token, 0, 1, _scores);
        }
        else
        {
            AddLocalCounts(plan, routing, previous, 0, plan.Layers, _scores);
        }

        return HomeChooser.Pick(_scores, _loads, 1, options.Speculative.HomeSlack);
    }
}
