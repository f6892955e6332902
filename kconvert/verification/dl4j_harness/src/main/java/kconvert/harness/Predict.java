package kconvert.harness;

import java.io.BufferedReader;
import java.io.File;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.zip.ZipEntry;
import java.util.zip.ZipFile;

import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.modelimport.keras.KerasModelImport;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.util.ModelSerializer;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.shade.jackson.databind.JsonNode;
import org.nd4j.shade.jackson.databind.ObjectMapper;
import org.nd4j.shade.jackson.databind.node.ArrayNode;
import org.nd4j.shade.jackson.databind.node.ObjectNode;

/**
 * Runs models in the real Deeplearning4j for kconvert's verification: one JVM, many models.
 *
 * <p>Usage: {@code java kconvert.harness.Predict jobs.json}. The job file is a JSON list of
 * {@code {"model": path, "kind": "zip"|"configuration"|"keras", "weights": path?, "sequential": bool?, "save": path?,
 * "dtype": "float"|"double"?, "inputs": [npy...], "layers": [name...], "out": dir, "result": path, "timeout_s": n?}}. A "zip" is a ModelSerializer zip restored as a
 * MultiLayerNetwork or ComputationGraph, as its configuration says (no inputs: only restored); a "configuration" is a
 * configuration.json alone, read by MultiLayerConfiguration or ComputationGraphConfiguration.fromJson and initialised
 * with init() (DL4J's own random parameters); "save": path, where given, writes the network so made (its
 * parameters included) as a ModelSerializer zip; "zoo" is a deeplearning4j-zoo model (its class name)
 * built with the job's "zoo" builder settings and init(); "keras" is a Keras file imported
 * with DL4J's own KerasModelImport (enforceTrainingConfig=false). "dtype": "double" runs the network (after any "save")
 * converted to double precision. Each job writes its outputs (and
 * the named layers' activations) as float32 .npy files under "out" and then its "result" JSON:
 * {"outputs": [npy...], "activations": {name: npy}, "network": ..., "dl4j": version} or
 * {"error": message}. A job's failure is caught and reported; the next job still runs. A job that
 * runs past its timeout (300 s by default) is reported as such and the JVM exits with status 3.
 * {@code Predict --serve} runs job files named on stdin, one after another, in the same JVM (see serve()).
 */
public final class Predict {
    private static final ObjectMapper JSON = new ObjectMapper();
    /** The exit status after a model ran past its "timeout_s" (its result says so). */
    private static final int TIMED_OUT = 3;
    /** The thread models run in, so that one past its time can be given up on. */
    private static final ExecutorService WORKER = Executors.newSingleThreadExecutor(r -> {
        Thread t = new Thread(r, "kconvert-model");
        t.setDaemon(true);
        return t;
    });
    private static final String VERSION = version();

    private Predict() {
    }

    public static void main(String[] args) throws Exception {
        if (args.length != 1) {
            System.err.println("usage: Predict jobs.json | Predict --serve");
            System.exit(2);
        }
        if ("--serve".equals(args[0])) {
            serve();
        } else {
            runList(JSON.readTree(new File(args[0])));
        }
    }

    /**
     * kconvert's harness server: each line read from stdin is "N jobs.json"; that list is run as a job file is, then
     * "kconvert-harness done N" is written to stdout. It ends with its stdin (or as a list's timeout ends it).
     */
    private static void serve() throws Exception {
        PrintStream replies = System.out;
        System.setOut(System.err); // what DL4J prints goes with its messages, not into the replies
        BufferedReader requests = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        for (String line = requests.readLine(); line != null; line = requests.readLine()) {
            int space = line.indexOf(' ');
            runList(JSON.readTree(new File(line.substring(space + 1))));
            replies.println("kconvert-harness done " + line.substring(0, space));
            replies.flush();
        }
    }

    private static void runList(JsonNode jobs) throws Exception {
        for (JsonNode job : jobs) {
            ObjectNode result;
            long timeout = job.path("timeout_s").asLong(300);
            Future<ObjectNode> running = WORKER.submit(() -> run(job));
            try {
                result = running.get(timeout, TimeUnit.SECONDS);
                result.put("dl4j", VERSION);
            } catch (TimeoutException e) {
                // a model that never finishes (DL4J's import can loop): report it, and end this JVM,
                // whose worker thread cannot be stopped; the caller starts another for the rest
                ObjectNode failed = JSON.createObjectNode();
                failed.put("error", "did not finish within " + timeout + " s");
                write(job, failed);
                System.out.flush();
                Runtime.getRuntime().halt(TIMED_OUT);
                return;
            } catch (ExecutionException e) { // one bad model must not end the batch
                Throwable cause = e.getCause();
                System.err.println("kconvert harness: " + job.get("model").asText() + ":");
                cause.printStackTrace();
                result = JSON.createObjectNode();
                result.put("error", message(cause));
            }
            write(job, result);
        }
    }

    /** The job's result file, written whole or not at all. */
    private static void write(JsonNode job, ObjectNode result) throws Exception {
        Path target = Path.of(job.get("result").asText());
        Path staged = target.resolveSibling(target.getFileName() + ".partial");
        Files.writeString(staged, JSON.writeValueAsString(result), StandardCharsets.UTF_8);
        Files.move(staged, target, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    }

    private static ObjectNode run(JsonNode job) throws Exception {
        String model = job.get("model").asText();
        INDArray[] inputs = new INDArray[job.get("inputs").size()];
        for (int i = 0; i < inputs.length; i++) {
            inputs[i] = Nd4j.createFromNpyFile(new File(job.get("inputs").get(i).asText())).castTo(DataType.FLOAT);
        }
        List<String> layers = new ArrayList<>();
        if (job.has("layers")) {
            job.get("layers").forEach(n -> layers.add(n.asText()));
        }
        String kind = job.path("kind").asText("zip");
        Object network = "keras".equals(kind) ? importKeras(model, job)
                : "configuration".equals(kind) ? configured(model)
                : "zoo".equals(kind) ? zoo(model, job) : restore(model);
        if (job.hasNonNull("save")) { // the network as restored or initialised, with its parameters
            ModelSerializer.writeModel((org.deeplearning4j.nn.api.Model) network, new File(job.get("save").asText()),
                    false);
        }
        if ("double".equals(job.path("dtype").asText("float"))) {
            // the same network computed in double precision: tells a network's float32 rounding (which some
            // randomly initialised ones amplify far past any tolerance) from a difference in what is computed
            network = network instanceof MultiLayerNetwork
                    ? ((MultiLayerNetwork) network).convertDataType(DataType.DOUBLE)
                    : ((ComputationGraph) network).convertDataType(DataType.DOUBLE);
            for (int i = 0; i < inputs.length; i++) {
                inputs[i] = inputs[i].castTo(DataType.DOUBLE);
            }
        }
        ObjectNode result = JSON.createObjectNode();
        result.put("network", network instanceof MultiLayerNetwork ? "MultiLayerNetwork" : "ComputationGraph");
        result.putArray("outputs");
        result.putObject("activations");
        if (inputs.length == 0) { // only load (or import) it
            return result;
        }
        INDArray[] outputs;
        Map<String, INDArray> activations = new LinkedHashMap<>();
        if (network instanceof MultiLayerNetwork) {
            MultiLayerNetwork net = (MultiLayerNetwork) network;
            if (inputs.length != 1) {
                throw new IllegalArgumentException("a MultiLayerNetwork takes one input, given " + inputs.length);
            }
            outputs = new INDArray[] {net.output(inputs[0], false)};
            for (int i = 0; i < net.getnLayers(); i++) {
                String name = net.getLayerWiseConfigurations().getConf(i).getLayer().getLayerName();
                if (layers.contains(name)) {
                    // a pass that stops at layer i: a later layer's in-place activation cannot overwrite it
                    List<INDArray> acts = net.feedForwardToLayer(i, inputs[0], false);
                    activations.put(name, acts.get(i + 1).dup());
                }
            }
        } else {
            ComputationGraph net = (ComputationGraph) network;
            outputs = net.output(false, inputs);
            int[] order = net.topologicalSortOrder();
            for (int position = 0; position < order.length; position++) {
                String name = net.getVertices()[order[position]].getVertexName();
                if (layers.contains(name)) {
                    // a pass that stops at this vertex (its position in the topological order: the three-argument
                    // feedForward takes an index into the layers instead, and cannot stop at a vertex), so a
                    // later vertex's in-place activation cannot overwrite it
                    activations.put(name, net.feedForward(inputs, position, false, false).get(name).dup());
                }
            }
        }
        File out = new File(job.get("out").asText());
        out.mkdirs();
        ArrayNode written = (ArrayNode) result.get("outputs");
        for (int i = 0; i < outputs.length; i++) {
            written.add(write(outputs[i], new File(out, "output" + i + ".npy")));
        }
        ObjectNode acts = (ObjectNode) result.get("activations");
        int n = 0;
        for (Map.Entry<String, INDArray> e : activations.entrySet()) {
            acts.put(e.getKey(), write(e.getValue(), new File(out, "activation" + n++ + ".npy")));
        }
        return result;
    }

    /** A ModelSerializer zip, restored as the network its configuration describes. */
    private static Object restore(String path) throws Exception {
        boolean graph;
        try (ZipFile zip = new ZipFile(path)) {
            ZipEntry entry = zip.getEntry("configuration.json");
            if (entry == null) {
                throw new IllegalArgumentException("no configuration.json in the zip");
            }
            try (InputStream in = zip.getInputStream(entry)) {
                graph = JSON.readTree(in).has("vertices");
            }
        }
        File file = new File(path);
        return graph ? ModelSerializer.restoreComputationGraph(file, false)
                : ModelSerializer.restoreMultiLayerNetwork(file, false);
    }

    /** A configuration.json alone, as the network it describes with the parameters init() draws. */
    private static Object configured(String path) throws Exception {
        String json = Files.readString(Path.of(path), StandardCharsets.UTF_8);
        if (JSON.readTree(json).has("vertices")) {
            ComputationGraph graph = new ComputationGraph(ComputationGraphConfiguration.fromJson(json));
            graph.init();
            return graph;
        }
        MultiLayerNetwork net = new MultiLayerNetwork(MultiLayerConfiguration.fromJson(json));
        net.init();
        return net;
    }

    /**
     * A deeplearning4j-zoo model ({@code "model"}: its class name in org.deeplearning4j.zoo.model), built by its
     * builder with the job's {@code "zoo"} settings (numClasses, seed, inputShape, where the builder has them) and
     * initialised with DL4J's own random parameters.
     */
    private static Object zoo(String name, JsonNode job) throws Exception {
        Class<?> cls = Class.forName("org.deeplearning4j.zoo.model." + name);
        Object builder = cls.getMethod("builder").invoke(null);
        JsonNode settings = job.path("zoo");
        for (java.util.Iterator<String> keys = settings.fieldNames(); keys.hasNext(); ) {
            String key = keys.next();
            JsonNode value = settings.get(key);
            if (value.isArray()) {
                int[] ints = new int[value.size()];
                for (int i = 0; i < ints.length; i++) {
                    ints[i] = value.get(i).asInt();
                }
                builder.getClass().getMethod(key, int[].class).invoke(builder, (Object) ints);
            } else if ("seed".equals(key)) {
                builder.getClass().getMethod(key, long.class).invoke(builder, value.asLong());
            } else {
                builder.getClass().getMethod(key, int.class).invoke(builder, value.asInt());
            }
        }
        org.deeplearning4j.zoo.ZooModel model = (org.deeplearning4j.zoo.ZooModel) builder.getClass()
                .getMethod("build").invoke(builder);
        return model.init();
    }

    /** DL4J's own Keras import: a Sequential model as a MultiLayerNetwork, else a ComputationGraph. */
    private static Object importKeras(String path, JsonNode job) throws Exception {
        String weights = job.hasNonNull("weights") ? job.get("weights").asText() : null;
        boolean sequential = job.path("sequential").asBoolean(false);
        if (weights == null) {
            return sequential ? KerasModelImport.importKerasSequentialModelAndWeights(path, false)
                    : KerasModelImport.importKerasModelAndWeights(path, false);
        }
        return sequential ? KerasModelImport.importKerasSequentialModelAndWeights(path, weights, false)
                : KerasModelImport.importKerasModelAndWeights(path, weights, false);
    }

    private static String write(INDArray array, File file) throws Exception {
        Nd4j.writeAsNumpy(array.castTo(DataType.FLOAT).dup('c'), file);
        return file.getPath();
    }

    private static String message(Throwable e) {
        String text = e.getClass().getSimpleName() + ": " + e.getMessage();
        Throwable cause = e.getCause();
        while (cause != null && cause != cause.getCause()) {
            text += " (caused by " + cause.getClass().getSimpleName() + ": " + cause.getMessage() + ")";
            cause = cause.getCause();
        }
        return text.replace('\n', ' ');
    }

    private static String version() {
        Properties p = new Properties();
        try (InputStream in = Predict.class.getResourceAsStream("/kconvert-harness.properties")) {
            p.load(in);
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
        return "Deeplearning4j " + p.getProperty("dl4j.version");
    }
}
