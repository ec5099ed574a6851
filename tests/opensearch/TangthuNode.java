/*
 * One OpenSearch node for the test lane (tests/opensearch-lane.sh), from Maven artifacts.
 *
 * A distribution starts org.opensearch.bootstrap.OpenSearch, which loads the modules from
 * its modules/ folder. Maven Central has the server and each module as plain jars, without
 * that folder, so this does what OpenSearch's own test framework and OpenSearch Runner do:
 * a Node given the modules' plugin classes, all on one classpath.
 *
 *   java -Xmx512m -cp 'lib/*:classes' TangthuNode HOME HTTP_PORT TRANSPORT_PORT PARENT_PID MAX_SECONDS
 *
 * Loopback only, single-node discovery, no security plugin at all. The node stops on
 * SIGTERM, when the process PARENT_PID ends (the lane, however it ended), or after
 * MAX_SECONDS, whichever comes first.
 */

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import org.opensearch.cluster.service.ClusterService;
import org.opensearch.common.logging.LogConfigurator;
import org.opensearch.common.settings.Settings;
import org.opensearch.env.Environment;
import org.opensearch.node.InternalSettingsPreparer;
import org.opensearch.node.Node;
import org.opensearch.plugins.Plugin;

public final class TangthuNode {

    /** Set when the node stops on its own: then nobody is left to remove its folder. */
    static volatile boolean alone = false;

    /** What a distribution's modules/ folder would give this project's index. */
    static final String[] MODULES = {
        "org.opensearch.transport.Netty4Plugin", // HTTP and transport
        "org.opensearch.analysis.common.CommonAnalysisPlugin", // asciifolding, cjk_bigram
        "org.opensearch.painless.PainlessPlugin",
        "org.opensearch.index.mapper.MapperExtrasPlugin",
        "org.opensearch.index.reindex.ReindexPlugin",
    };

    static final String LOG4J2 = String.join("\n",
        "status = error",
        "appender.console.type = Console",
        "appender.console.name = console",
        "appender.console.layout.type = PatternLayout",
        "appender.console.layout.pattern = [%d{ISO8601}][%-5p][%-25c{1.}] [%node_name]%marker %m%n",
        "rootLogger.level = info",
        "rootLogger.appenderRef.console.ref = console",
        // Each index and shard transition is a line at info: keep the log to what matters.
        "logger.metadata.name = org.opensearch.cluster.metadata",
        "logger.metadata.level = warn",
        "logger.shards.name = org.opensearch.cluster.routing.allocation",
        "logger.shards.level = warn",
        "logger.plugins.name = org.opensearch.plugins.PluginsService",
        "logger.plugins.level = warn",
        "");

    /** A Node with its plugins given as classes rather than found in folders. */
    static final class ClasspathNode extends Node {
        ClasspathNode(Environment environment, Collection<Class<? extends Plugin>> plugins) {
            super(environment, plugins, true);
        }

        @Override
        protected void configureNodeAndClusterIdStateListener(ClusterService clusterService) {
            // The distribution's bootstrap sets this up for its logs' node id; not needed here.
        }
    }

    public static void main(String[] args) throws Exception {
        if (args.length != 5) {
            System.err.println("usage: TangthuNode HOME HTTP_PORT TRANSPORT_PORT PARENT_PID MAX_SECONDS");
            System.exit(2);
        }
        Path home = Paths.get(args[0]).toAbsolutePath();
        String httpPort = args[1];
        String transportPort = args[2];
        long parent = Long.parseLong(args[3]);
        long maxSeconds = Long.parseLong(args[4]);

        Path config = home.resolve("config");
        Files.createDirectories(config);
        Files.createDirectories(home.resolve("data"));
        Files.createDirectories(home.resolve("logs"));
        Files.createDirectories(home.resolve("modules"));
        Files.createDirectories(home.resolve("plugins"));
        Files.writeString(config.resolve("opensearch.yml"), "# settings are given by TangthuNode\n");
        Files.writeString(config.resolve("log4j2.properties"), LOG4J2, StandardCharsets.UTF_8);

        Settings settings = Settings.builder()
            .put("cluster.name", "tangthu-test")
            .put("node.name", "tangthu-test")
            .put("path.home", home.toString())
            .put("path.data", home.resolve("data").toString())
            .put("path.logs", home.resolve("logs").toString())
            .put("network.host", "127.0.0.1")
            .put("http.port", httpPort)
            .put("transport.port", transportPort)
            .put("discovery.type", "single-node")
            // A shared machine's disk filling up must not turn test indices read-only.
            .put("cluster.routing.allocation.disk.threshold_enabled", false)
            .put("action.destructive_requires_name", false)
            .build();
        Environment environment = InternalSettingsPreparer.prepareEnvironment(
            settings, Collections.emptyMap(), config, () -> "tangthu-test");
        LogConfigurator.registerErrorListener();
        LogConfigurator.setNodeName("tangthu-test");
        LogConfigurator.configure(environment);

        List<Class<? extends Plugin>> plugins = new ArrayList<>();
        for (String name : MODULES) {
            plugins.add(Class.forName(name).asSubclass(Plugin.class));
        }
        Node node = new ClasspathNode(environment, plugins);

        CountDownLatch stop = new CountDownLatch(1);
        Thread closer = new Thread(() -> {
            try {
                node.close();
                node.awaitClose(10, TimeUnit.SECONDS);
            } catch (Exception e) {
                e.printStackTrace();
            } finally {
                if (alone) {
                    removeTree(home);
                }
                stop.countDown();
            }
        }, "tangthu-node-close");
        Runtime.getRuntime().addShutdownHook(closer);

        node.start();
        System.out.println("TangthuNode started: http://127.0.0.1:" + httpPort
            + " transport 127.0.0.1:" + transportPort);
        System.out.flush();

        // The lane's trap normally stops the node; these cover a lane killed outright.
        ProcessHandle.of(parent).ifPresentOrElse(
            handle -> handle.onExit().thenRun(() -> {
                System.out.println("TangthuNode: the lane (pid " + parent + ") ended; stopping");
                alone = true;
                System.exit(0);
            }),
            () -> {
                alone = true;
                System.exit(0);
            });
        if (!stop.await(maxSeconds, TimeUnit.SECONDS)) {
            System.out.println("TangthuNode: " + maxSeconds + " s are up; stopping");
            alone = true;
            System.exit(0);
        }
    }

    static void removeTree(Path root) {
        try (var paths = Files.walk(root)) {
            paths.sorted(java.util.Comparator.reverseOrder()).forEach(path -> path.toFile().delete());
        } catch (Exception e) {
            // best effort: it is a temporary folder
        }
    }
}
