using MoeCloud.Abstractions;
using MoeCloud.Cli.Cluster;
using MoeCloud.Client;
using MoeCloud.Gateway.Hosting;
using MoeCloud.Runtime.Hosting;

namespace MoeCloud.Cli.Commands;

/// <summary>
/// The cluster a chaos scenario runs on, its gateway(s), the client of the load and the faults it can strike, the
/// same for every mode: silo processes with gateways in moectl (or in-process silos, embedded), or containers. The
/// scenarios are written once against it.
/// </summary>
internal interface IChaosRig : IAsyncDisposable
{
    /// <summary>The cluster (its Orleans client: plans, the registry).</summary>
    ILocalCluster Cluster { get; }

    /// <summary>The load's client, given every gateway's address (the one <see cref="CrashGateway"/> crashes first).</summary>
    MoeCloudClient Client { get; }

    /// <summary>What a silo is in this mode, in words: <c>silo</c> or <c>silo container</c>.</summary>
    string Silo { get; }

    /// <summary>kill -9 (<paramref name="kill"/>) or SIGTERM of pod <paramref name="pod"/>'s silo; returns once sent.</summary>
    Task StopSilo(int pod, bool kill, CancellationToken ct);

    /// <summary>Waits until pod <paramref name="pod"/>'s silo has exited; its exit code.</summary>
    Task<int> WaitForSiloExit(int pod, CancellationToken ct);

    /// <summary>Pod <paramref name="pod"/>'s silo's exit code once it has exited; null while it runs.</summary>
    Task<int?> SiloExitCode(int pod, CancellationToken ct);

    /// <summary>Starts pod <paramref name="pod"/>'s exited silo again, as a StatefulSet would, and waits until it is up.</summary>
    Task RestartSilo(int pod, CancellationToken ct);

    /// <summary>Crashes the first gateway (of two): connections aborted, no drain.</summary>
    Task CrashGateway(CancellationToken ct);

    /// <summary>Starts the crashed gateway again at its address.</summary>
    Task RestartGateway(CancellationToken ct);

    /// <summary>Crashes Redis and starts it again after <paramref name="down"/>, with its data or empty.</summary>
    Task RestartRedis(TimeSpan down, bool keepData, CancellationToken ct);

    /// <summary>Cuts pod <paramref name="pod"/> off the network (<paramref name="up"/> false) or connects it again.</summary>
    Task SetLink(int pod, bool up, CancellationToken ct);
}

/// <summary>Starting a scenario's rig.</summary>
public static partial class BenchChaosCommand
{
    /// <summary>
    /// A fresh cluster of <paramref name="setup"/>'s mode serving <paramref name="plan"/>, with <paramref name="gateways"/>
    /// gateways (1 or 2) and a client given all of them; <paramref name="network"/> (processes mode): the silos in
    /// network namespaces of their own (<see cref="ShapedNetwork"/>), so that a link can be cut.
    /// </summary>
    private static async Task<IChaosRig> StartRig(ChaosSetup setup, WirePlan plan, int gateways, bool network, CancellationToken ct)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(gateways, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(gateways, 2);
        return setup.Mode == "containers"
            ? await ContainerRig.Start(setup, plan, gateways, ct)
            : await ProcessRig.Start(setup, plan, gateways, network, ct);
    }

    /// <summary>Silo processes (or embedded silos) and <see cref="LocalGateway"/>s in this process.</summary>
    private sealed class ProcessRig : IChaosRig
    {
        private readonly ShapedNetwork? _network;
        private readonly LocalGateway _gateway;
        private LocalGateway? _replica;

        private ProcessRig(ShapedNetwork? network, ILocalCluster cluster, LocalGateway gateway, LocalGateway? replica)
        {
            _network = network;
            Cluster = cluster;
            _gateway = gateway;
            _replica = replica;
            Client = new MoeCloudClient(replica is null ? [gateway.GrpcAddress] : [replica.GrpcAddress, gateway.GrpcAddress], ClientOptions(gateway.ApiKey));
        }

        public ILocalCluster Cluster { get; }

        public MoeCloudClient Client { get; }

        public string Silo => "silo";

        private ProcessCluster Processes => Cluster as ProcessCluster ?? throw new InvalidOperationException("this scenario needs silo processes (--mode processes)");

        public static async Task<ProcessRig> Start(ChaosSetup setup, WirePlan plan, int gateways, bool network, CancellationToken ct)
        {
            var models = new Dictionary<string, string> { [Model] = setup.ModelDirectory };
            var net = network ? await ShapedNetwork.Create(setup.Silos, "1gbit", ct) : null;
            ILocalCluster? cluster = null;
            LocalGateway? gateway = null;
            try
            {
                cluster = net is null
                    ? await LocalClusters.Start(setup.Mode, setup.Silos, models, rehomeProfiles: null, ct, quiet: true)
                    : await ProcessCluster.Start(setup.Silos, models, TextWriter.Null, ct, network: net);
                await cluster.Publish(plan);
                gateway = await LocalGateway.Start(cluster, Model, setup.ModelDirectory, profile: null, HomePolicyName.Speculative, ct);
                var replica = gateways == 2 ? await gateway.StartReplica(ct) : null;
                return new ProcessRig(net, cluster, gateway, replica);
            }
            catch
            {
                await DisposeAll(null, gateway, cluster, net);
                throw;
            }
        }

        public async Task StopSilo(int pod, bool kill, CancellationToken ct)
        {
            if (kill)
            {
                Processes.Kill(pod);
            }
            else
            {
                await Processes.Terminate(pod);
            }
        }

        public async Task<int> WaitForSiloExit(int pod, CancellationToken ct)
        {
            await Processes.WaitForExit(pod, ct);
            return Processes.ExitCode(pod) ?? throw new InvalidOperationException($"the silo process of pod {pod} has not exited");
        }

        public Task<int?> SiloExitCode(int pod, CancellationToken ct) => Task.FromResult(Processes.ExitCode(pod));

        public Task RestartSilo(int pod, CancellationToken ct) => Processes.Restart(pod, ct);

        public Task CrashGateway(CancellationToken ct) => Replica.Crash();

        public async Task RestartGateway(CancellationToken ct) => _replica = await Replica.Restart(ct);

        public Task RestartRedis(TimeSpan down, bool keepData, CancellationToken ct) => Processes.RestartRedis(down, keepData, ct);

        public Task SetLink(int pod, bool up, CancellationToken ct) => Processes.SetLink(pod, up, ct);

        public async ValueTask DisposeAsync()
        {
            Client.Dispose();
            await DisposeAll(_replica, _gateway, Cluster, _network);
        }

        private LocalGateway Replica => _replica ?? throw new InvalidOperationException("this rig has one gateway; start it with two to crash one");

        private static async Task DisposeAll(LocalGateway? replica, LocalGateway? gateway, ILocalCluster? cluster, ShapedNetwork? network)
        {
            try
            {
                if (replica is not null)
                {
                    await replica.DisposeAsync();
                }

                if (gateway is not null)
                {
                    await gateway.DisposeAsync();
                }
            }
            finally
            {
                try
                {
                    if (cluster is not null)
                    {
                        await cluster.DisposeAsync();
                    }
                }
                finally
                {
                    if (network is not null)
                    {
                        await network.DisposeAsync();
                    }
                }
            }
        }
    }

    /// <summary>MoeCloud's images in podman (<see cref="ContainerCluster"/>): silo, gateway and Redis containers.</summary>
    private sealed class ContainerRig(ContainerCluster cluster) : IChaosRig
    {
        public ILocalCluster Cluster => cluster;

        public MoeCloudClient Client { get; } = new(cluster.GatewayGrpcs, ClientOptions(cluster.ApiKey));

        public string Silo => "silo container";

        public static async Task<ContainerRig> Start(ChaosSetup setup, WirePlan plan, int gateways, CancellationToken ct)
        {
            var cluster = await ContainerCluster.Start(setup.Silos, Model, setup.ModelDirectory, TextWriter.Null, ct, setup.ImageTag, gateways);
            try
            {
                await cluster.Publish(plan);
                await cluster.WaitReady(ct);
                return new ContainerRig(cluster);
            }
            catch
            {
                await cluster.DisposeAsync();
                throw;
            }
        }

        public Task StopSilo(int pod, bool kill, CancellationToken ct) => kill ? cluster.Kill(pod, ct) : cluster.Terminate(pod, ct);

        public Task<int> WaitForSiloExit(int pod, CancellationToken ct) => cluster.WaitForExit(pod, ct);

        public Task<int?> SiloExitCode(int pod, CancellationToken ct) => cluster.ExitCode(pod, ct);

        public Task RestartSilo(int pod, CancellationToken ct) => cluster.Restart(pod, ct);

        public Task CrashGateway(CancellationToken ct) => cluster.KillGateway(0, ct);

        public Task RestartGateway(CancellationToken ct) => cluster.RestartGateway(0, ct);

        public Task RestartRedis(TimeSpan down, bool keepData, CancellationToken ct) => cluster.RestartRedis(down, keepData, ct);

        public Task SetLink(int pod, bool up, CancellationToken ct) => cluster.SetLink(pod, up, ct);

        public async ValueTask DisposeAsync()
        {
            Client.Dispose();
            await cluster.DisposeAsync();
        }
    }
}
