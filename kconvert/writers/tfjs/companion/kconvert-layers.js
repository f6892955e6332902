// kconvert-layers.js: layer classes that stock @tensorflow/tfjs 4.x lacks, written by kconvert
// beside a model.json that needs them, so that tf.loadLayersModel can deserialize that model.
//
//   Browser:  <script src="tf.min.js"></script><script src="kconvert-layers.js"></script>
//             (registers against the global `tf` by itself)
//   Node:     require("./kconvert-layers.js").register(tf)
//
// Only the public TF.js API is used (tf.layers.Layer, tf.serialization, tf ops).  The classes
// compute what Keras computes at inference (dropout is not applied).  Registering twice is harmless.
(function (root, factory) {
  "use strict";
  const api = factory();
  if (typeof module === "object" && module && module.exports) {
    module.exports = api;
  } else {
    root.kconvertLayers = api;
    if (root.tf) api.register(root.tf);
  }
})(typeof globalThis !== "undefined" ? globalThis : this, function () {
  "use strict";

  const VERSION = "2";
  const MASKED_SCORE = -0.7 * 3.38953e38; // what Keras writes into masked attention scores

  function single(inputs) {
    return Array.isArray(inputs) ? inputs[0] : inputs;
  }

  function tuple(value, rank) {
    return Array.isArray(value) ? value.slice() : new Array(rank).fill(value);
  }

  function product(values) {
    return values.reduce((a, b) => a * b, 1);
  }

  // -- GRU with reset_after=True --------------------------------------------------------------
  // Keras's variant (tf.keras 2 / Keras 3 default, CuDNN-compatible): separate input and recurrent
  // biases (bias shape [2, 3 * units]) and the reset gate applied after the recurrent product.
  // The class registered as "GRU" builds stock tfjs's GRU for reset_after=False and stock tfjs's
  // RNN machinery with this cell otherwise (masks, go_backwards, return_*, Bidirectional).
  function defineGru(tf, map) {
    const StockGRU = map.GRU[0];
    const StockGRUCell = map.GRUCell[0];

    class ResetAfterGRUCell extends StockGRUCell {
      constructor(args) {
        super(Object.assign({}, args, { resetAfter: false }));
        this.resetAfter = true;
      }

      build(inputShape) {
        const shape = Array.isArray(inputShape[0]) ? inputShape[0] : inputShape;
        const inputDim = shape[shape.length - 1];
        const zeros = tf.initializers.zeros();
        this.kernel = this.addWeight("kernel", [inputDim, 3 * this.units], null, zeros, null, true);
        this.recurrentKernel = this.addWeight("recurrent_kernel", [this.units, 3 * this.units], null, zeros,
                                              null, true);
        this.bias = this.useBias ? this.addWeight("bias", [2, 3 * this.units], null, zeros, null, true) : null;
        this.built = true;
      }

      call(inputs) {
        return tf.tidy(() => {
          const x = inputs[0];
          const h = inputs[1];
          let fromX = tf.matMul(x, this.kernel.read());
          let fromH = tf.matMul(h, this.recurrentKernel.read());
          if (this.bias != null) {
            const [inputBias, recurrentBias] = tf.unstack(this.bias.read());
            fromX = tf.add(fromX, inputBias);
            fromH = tf.add(fromH, recurrentBias);
          }
          const [xZ, xR, xH] = tf.split(fromX, 3, 1);
          const [hZ, hR, hH] = tf.split(fromH, 3, 1);
          const z = this.recurrentActivation.apply(tf.add(xZ, hZ));
          const r = this.recurrentActivation.apply(tf.add(xR, hR));
          const candidate = this.activation.apply(tf.add(xH, tf.mul(r, hH)));
          const out = tf.add(tf.mul(z, h), tf.mul(tf.sub(1, z), candidate));
          return [out, out];
        });
      }

      getConfig() {
        return Object.assign(super.getConfig(), { resetAfter: true });
      }
    }
    ResetAfterGRUCell.className = "KConvertResetAfterGRUCell";

    class GRU extends StockGRU {
      constructor(args) {
        super(Object.assign({}, args, { resetAfter: false }));
        if (args.resetAfter) this.cell = new ResetAfterGRUCell(args);
      }

      static fromConfig(cls, config) {
        return new cls(config);
      }
    }
    GRU.className = "GRU";
    return [ResetAfterGRUCell, GRU];
  }

  // -- LocallyConnected1D / 2D ----------------------------------------------------------------
  // Keras 2's unshared convolutions, weights in implementation 1's layout: kernel
  // [positions, window * channels, filters] with each window flattened in the input's own axis
  // order, bias [...output spatial, filters] (reshaped, as Keras does, for channels_first).
  function defineLocallyConnected(tf, rank) {
    class LocallyConnected extends tf.layers.Layer {
      constructor(args) {
        super(args);
        this.rank = rank;
        this.filters = args.filters;
        this.kernelSize = tuple(args.kernelSize, rank);
        this.strides = tuple(args.strides == null ? 1 : args.strides, rank);
        this.padding = args.padding == null ? "valid" : args.padding;
        if (this.padding !== "valid") throw new Error(`${this.name}: only padding='valid' is supported`);
        this.dataFormat = args.dataFormat == null ? "channelsLast" : args.dataFormat;
        this.useBias = args.useBias == null ? true : args.useBias;
        this.activationName = args.activation == null ? "linear" : args.activation;
        this.activationLayer = tf.layers.activation({ activation: this.activationName });
        this.implementation = args.implementation == null ? 1 : args.implementation;
        this.inputSpec = [{ ndim: rank + 2 }];
      }

      spatialAxes(inputRank) {
        const axes = [];
        for (let i = 0; i < rank; i++) axes.push(this.dataFormat === "channelsFirst" ? i + 2 : i + 1);
        return axes.length ? axes : [inputRank];
      }

      outputSpatial(inputShape) {
        return this.spatialAxes(inputShape.length).map(
          (axis, i) => Math.floor((inputShape[axis] - this.kernelSize[i]) / this.strides[i]) + 1);
      }

      build(inputShape) {
        const shape = Array.isArray(inputShape[0]) ? inputShape[0] : inputShape;
        const channels = shape[this.dataFormat === "channelsFirst" ? 1 : shape.length - 1];
        const spatial = this.outputSpatial(shape);
        const zeros = tf.initializers.zeros();
        this.kernel = this.addWeight("kernel", [product(spatial), product(this.kernelSize) * channels, this.filters],
                                     null, zeros, null, true);
        this.bias = this.useBias ? this.addWeight("bias", [...spatial, this.filters], null, zeros, null, true) : null;
        this.built = true;
      }

      computeOutputShape(inputShape) {
        const shape = Array.isArray(inputShape[0]) ? inputShape[0] : inputShape;
        const spatial = this.outputSpatial(shape);
        return this.dataFormat === "channelsFirst" ? [shape[0], this.filters, ...spatial]
          : [shape[0], ...spatial, this.filters];
      }

      call(inputs) {
        return tf.tidy(() => {
          const x = single(inputs);
          const axes = this.spatialAxes(x.rank);
          const spatial = this.outputSpatial(x.shape);
          const batch = x.shape[0];
          const windows = [];
          const positions = [[]];
          for (const n of spatial) {
            const next = [];
            for (const p of positions.splice(0)) for (let i = 0; i < n; i++) next.push([...p, i]);
            positions.push(...next);
          }
          for (const index of positions) {
            const begin = new Array(x.rank).fill(0);
            const size = x.shape.slice();
            axes.forEach((axis, i) => { begin[axis] = index[i] * this.strides[i]; size[axis] = this.kernelSize[i]; });
            windows.push(tf.reshape(tf.slice(x, begin, size), [batch, -1]));
          }
          let y = tf.matMul(tf.stack(windows), this.kernel.read()); // [positions, batch, filters]
          y = tf.reshape(y, [...spatial, batch, this.filters]);
          const r = spatial.length;
          y = tf.transpose(y, [r, ...spatial.map((_, i) => i), r + 1]); // [batch, ...spatial, filters]
          if (this.dataFormat === "channelsFirst") {
            y = tf.transpose(y, [0, r + 1, ...spatial.map((_, i) => i + 1)]);
            if (this.bias != null) y = tf.add(y, tf.reshape(this.bias.read(), [1, this.filters, ...spatial]));
          } else if (this.bias != null) {
            y = tf.add(y, this.bias.read());
          }
          return this.activationLayer.apply(y);
        });
      }

      getConfig() {
        return Object.assign(super.getConfig(), {
          filters: this.filters, kernelSize: this.kernelSize, strides: this.strides, padding: this.padding,
          dataFormat: this.dataFormat, activation: this.activationName, useBias: this.useBias,
          implementation: this.implementation,
        });
      }
    }
    LocallyConnected.className = `LocallyConnected${rank}D`;
    return [LocallyConnected];
  }

  // -- MultiHeadAttention ---------------------------------------------------------------------
  // Keras's dot-product attention over the time axis of (batch, time, features) inputs.  kconvert's
  // node lists each distinct input tensor once (tfjs-layers frees a tensor listed twice too early);
  // its call arguments give the inputs in Keras's order (query, value, [key], [attention_mask]) as
  // indices into that list (kconvert_inputs), and flag attention_mask and use_causal_mask.
  // Weights: {query,key,value,output}_{kernel,bias} as Keras's EinsumDense projections hold them.
  function defineMultiHeadAttention(tf) {
    class MultiHeadAttention extends tf.layers.Layer {
      constructor(args) {
        super(args);
        this.numHeads = args.numHeads;
        this.keyDim = args.keyDim;
        this.valueDim = args.valueDim == null ? args.keyDim : args.valueDim;
        this.useBias = args.useBias == null ? true : args.useBias;
        this.outputDims = args.outputShape == null ? null
          : (Array.isArray(args.outputShape) ? args.outputShape.slice() : [args.outputShape]);
        this.dropout = args.dropout == null ? 0 : args.dropout;
        // Keras 3 with dropout > 0 zeroes the weights of masked keys (a query row with none left is 0)
        this.zeroMaskedRows = args.kconvertZeroMaskedRows === true;
        this.withAttentionMask = false;
        this.causal = false;
        this.listed = null;
      }

      apply(inputs, kwargs) {
        // the roles of the inputs come with the call that builds the layer (deserialization)
        if (kwargs != null && !this.built) {
          this.withAttentionMask = kwargs.attentionMask != null && kwargs.attentionMask !== false;
          this.causal = kwargs.useCausalMask === true;
          if (Array.isArray(kwargs.kconvertInputs)) this.listed = kwargs.kconvertInputs.slice();
        }
        return super.apply(inputs, kwargs);
      }

      // the call's inputs in Keras's order, from the distinct tensors (or shapes) the node lists
      logical(listed) {
        return this.listed == null ? listed : this.listed.map((i) => listed[i]);
      }

      roles(count) {
        const hasKey = count - (this.withAttentionMask ? 1 : 0) === 3;
        return { key: hasKey ? 2 : 1, mask: this.withAttentionMask ? count - 1 : -1 };
      }

      tail(queryShape) {
        return this.outputDims != null && this.outputDims.length ? this.outputDims : [queryShape[queryShape.length - 1]];
      }

      build(inputShape) {
        const shapes = this.logical(Array.isArray(inputShape[0]) ? inputShape : [inputShape]);
        const roles = this.roles(shapes.length);
        const query = shapes[0];
        const value = shapes[1];
        const key = shapes[roles.key];
        const heads = this.numHeads;
        const zeros = tf.initializers.zeros();
        const tail = this.tail(query);
        const projections = [
          ["query", [query[query.length - 1], heads, this.keyDim], [heads, this.keyDim]],
          ["key", [key[key.length - 1], heads, this.keyDim], [heads, this.keyDim]],
          ["value", [value[value.length - 1], heads, this.valueDim], [heads, this.valueDim]],
          ["output", [heads, this.valueDim, ...tail], tail],
        ];
        this.projections = {};
        for (const [name, kernel, bias] of projections) {
          this.projections[name] = {
            kernel: this.addWeight(`${name}_kernel`, kernel, null, zeros, null, true),
            bias: this.useBias ? this.addWeight(`${name}_bias`, bias, null, zeros, null, true) : null,
          };
        }
        this.built = true;
      }

      computeOutputShape(inputShape) {
        const query = Array.isArray(inputShape[0]) ? inputShape[this.listed == null ? 0 : this.listed[0]] : inputShape;
        return [query[0], query[1], ...this.tail(query)];
      }

      computeMask() {
        return null;
      }

      // x [batch, time, features] projected to [batch, time, ...kernel shape after its first axis]
      project(x, name) {
        const { kernel, bias } = this.projections[name];
        const w = kernel.read();
        const [batch, time, features] = x.shape;
        let y = tf.matMul(tf.reshape(x, [batch * time, features]), tf.reshape(w, [features, -1]));
        y = tf.reshape(y, [batch, time, ...w.shape.slice(1)]);
        return bias == null ? y : tf.add(y, bias.read());
      }

      call(listed) {
        return tf.tidy(() => {
          const inputs = this.logical(Array.isArray(listed) ? listed : [listed]);
          const roles = this.roles(inputs.length);
          const query = inputs[0];
          const value = inputs[1];
          const key = inputs[roles.key];
          const q = tf.mul(this.project(query, "query"), 1 / Math.sqrt(this.keyDim)); // [b, t, h, k]
          const k = this.project(key, "key"); // [b, s, h, k]
          const v = this.project(value, "value"); // [b, s, h, v]
          let scores = tf.matMul(tf.transpose(q, [0, 2, 1, 3]), tf.transpose(k, [0, 2, 1, 3]), false, true);
          let keep = null;
          if (roles.mask >= 0) keep = tf.expandDims(tf.cast(inputs[roles.mask], "bool"), 1); // [b, 1, t, s]
          if (this.causal) {
            const [rows, cols] = scores.shape.slice(2);
            const causal = tf.reshape(tf.cast(tf.linalg.bandPart(tf.ones([rows, cols]), -1, 0), "bool"),
                                      [1, 1, rows, cols]);
            keep = keep == null ? causal : tf.logicalAnd(keep, causal);
          }
          if (keep != null) {
            keep = tf.broadcastTo(keep, scores.shape);
            scores = tf.where(keep, scores, tf.fill(scores.shape, MASKED_SCORE));
          }
          let weights = tf.softmax(scores, -1);
          if (keep != null && this.zeroMaskedRows) weights = tf.where(keep, weights, tf.zerosLike(weights));
          const heads = tf.transpose(tf.matMul(weights, tf.transpose(v, [0, 2, 1, 3])), [0, 2, 1, 3]); // [b, t, h, v]
          const { kernel, bias } = this.projections.output;
          const w = kernel.read();
          const [batch, time] = heads.shape;
          const tail = w.shape.slice(2);
          let out = tf.matMul(tf.reshape(heads, [batch * time, -1]), tf.reshape(w, [this.numHeads * this.valueDim, -1]));
          out = tf.reshape(out, [batch, time, ...tail]);
          return bias == null ? out : tf.add(out, bias.read());
        });
      }

      getConfig() {
        return Object.assign(super.getConfig(), {
          numHeads: this.numHeads, keyDim: this.keyDim, valueDim: this.valueDim, useBias: this.useBias,
          outputShape: this.outputDims, dropout: this.dropout, kconvertZeroMaskedRows: this.zeroMaskedRows,
        });
      }
    }
    MultiHeadAttention.className = "MultiHeadAttention";
    return [MultiHeadAttention];
  }

  // -- EinsumDense ----------------------------------------------------------------------------
  // activation(einsum(equation, x, kernel) + bias) for the equations kconvert reads: "ab,bc->ac"
  // or "...b,bc->...c"; kernel and bias shapes as Keras's _analyze_einsum_string derives them.
  function defineEinsumDense(tf) {
    const PLAIN = /^([a-zA-Z]+),([a-zA-Z]+)->([a-zA-Z]+)$/;
    const ELIDED = /^\.\.\.([a-zA-Z]+),([a-zA-Z]+)->\.\.\.([a-zA-Z]+)$/;
    const LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";

    class EinsumDense extends tf.layers.Layer {
      constructor(args) {
        super(args);
        this.equation = args.equation;
        const match = PLAIN.exec(this.equation) || ELIDED.exec(this.equation);
        if (match == null) throw new Error(`${this.name}: unsupported einsum equation ${this.equation}`);
        [, this.inputLetters, this.kernelLetters, this.outputLetters] = match;
        this.elided = !PLAIN.test(this.equation);
        const partial = args.outputShape;
        this.partialOutputShape = Array.isArray(partial) ? partial.slice() : [partial];
        this.biasAxes = args.biasAxes == null ? null : args.biasAxes;
        this.activationName = args.activation == null ? "linear" : args.activation;
        this.activationLayer = tf.layers.activation({ activation: this.activationName });
      }

      analyze(shape) {
        const inp = this.inputLetters;
        const out = this.outputLetters;
        const extra = shape.length - inp.length;
        const offset = this.elided ? extra : 0;
        const full = this.elided ? [shape[0], ...shape.slice(1, extra), ...this.partialOutputShape]
          : [shape[0], ...this.partialOutputShape];
        const inAt = {};
        const outAt = {};
        [...inp].forEach((c, i) => { inAt[c] = i + offset; });
        [...out].forEach((c, i) => { outAt[c] = i + offset; });
        for (const c of out) if (c in inAt) full[outAt[c]] = shape[inAt[c]];
        const kernel = [...this.kernelLetters].map((c) => (c in outAt ? full[outAt[c]] : shape[inAt[c]]));
        let bias = null;
        if (this.biasAxes) {
          const first = Math.min(...[...this.biasAxes].map((c) => out.indexOf(c)));
          bias = [...out.slice(first)].map((c) => (this.biasAxes.includes(c) ? full[outAt[c]] : 1));
        }
        return { full, kernel, bias };
      }

      build(inputShape) {
        const { kernel, bias } = this.analyze(Array.isArray(inputShape[0]) ? inputShape[0] : inputShape);
        const zeros = tf.initializers.zeros();
        this.kernel = this.addWeight("kernel", kernel, null, zeros, null, true);
        this.bias = bias == null ? null : this.addWeight("bias", bias, null, zeros, null, true);
        this.built = true;
      }

      computeOutputShape(inputShape) {
        return this.analyze(Array.isArray(inputShape[0]) ? inputShape[0] : inputShape).full;
      }

      call(inputs) {
        return tf.tidy(() => {
          const x = single(inputs);
          let equation = this.equation;
          if (this.elided) {
            const free = [...LETTERS].filter((c) => !equation.includes(c));
            const batch = free.slice(0, x.rank - this.inputLetters.length).join("");
            equation = `${batch}${this.inputLetters},${this.kernelLetters}->${batch}${this.outputLetters}`;
          }
          let y = tf.einsum(equation, x, this.kernel.read());
          if (this.bias != null) y = tf.add(y, this.bias.read());
          return this.activationLayer.apply(y);
        });
      }

      getConfig() {
        return Object.assign(super.getConfig(), {
          equation: this.equation, outputShape: this.partialOutputShape, biasAxes: this.biasAxes,
          activation: this.activationName,
        });
      }
    }
    EinsumDense.className = "EinsumDense";
    return [EinsumDense];
  }

  // -- GroupNormalization / UnitNormalization -------------------------------------------------
  // GroupNormalization: the channels of `axis` split into `groups` groups (as Keras reshapes them),
  // each standardised over its channels and every other non-batch axis, then gamma and beta per
  // channel.  UnitNormalization: x * rsqrt(max(sum(x^2 over axis), 1e-12)) (tf.keras's floor).
  function defineNormalizations(tf) {
    class GroupNormalization extends tf.layers.Layer {
      constructor(args) {
        super(args);
        this.groups = args.groups == null ? 32 : args.groups;
        this.axis = args.axis == null ? -1 : args.axis;
        this.epsilon = args.epsilon == null ? 1e-3 : args.epsilon;
        this.center = args.center == null ? true : args.center;
        this.scale = args.scale == null ? true : args.scale;
        this.supportsMasking = true;
      }

      build(inputShape) {
        const shape = Array.isArray(inputShape[0]) ? inputShape[0] : inputShape;
        const channels = shape[this.axis < 0 ? shape.length + this.axis : this.axis];
        const zeros = tf.initializers.zeros();
        this.gamma = this.scale ? this.addWeight("gamma", [channels], null, zeros, null, true) : null;
        this.beta = this.center ? this.addWeight("beta", [channels], null, zeros, null, true) : null;
        this.built = true;
      }

      call(inputs) {
        return tf.tidy(() => {
          const x = single(inputs);
          const rank = x.rank;
          const axis = this.axis < 0 ? rank + this.axis : this.axis;
          const channels = x.shape[axis];
          const split = [this.groups, channels / this.groups];
          const grouped = tf.reshape(x, [...x.shape.slice(0, axis), ...split, ...x.shape.slice(axis + 1)]);
          const reduce = [];
          for (let i = 1; i <= rank; i++) if (i !== axis) reduce.push(i);
          const { mean, variance } = tf.moments(grouped, reduce, true);
          let out = tf.mul(tf.sub(grouped, mean), tf.rsqrt(tf.add(variance, this.epsilon)));
          const shape = new Array(rank + 1).fill(1);
          shape[axis] = split[0];
          shape[axis + 1] = split[1];
          if (this.gamma != null) out = tf.mul(out, tf.reshape(this.gamma.read(), shape));
          if (this.beta != null) out = tf.add(out, tf.reshape(this.beta.read(), shape));
          return tf.reshape(out, x.shape);
        });
      }

      getConfig() {
        return Object.assign(super.getConfig(), {
          groups: this.groups, axis: this.axis, epsilon: this.epsilon, center: this.center, scale: this.scale,
        });
      }
    }
    GroupNormalization.className = "GroupNormalization";

    class UnitNormalization extends tf.layers.Layer {
      constructor(args) {
        super(args);
        this.axis = args.axis == null ? [-1] : (Array.isArray(args.axis) ? args.axis.slice() : [args.axis]);
        this.supportsMasking = true;
      }

      call(inputs) {
        return tf.tidy(() => {
          const x = single(inputs);
          const axes = this.axis.map((a) => (a < 0 ? x.rank + a : a));
          const squares = tf.sum(tf.square(x), axes, true);
          return tf.mul(x, tf.rsqrt(tf.maximum(squares, 1e-12)));
        });
      }

      getConfig() {
        return Object.assign(super.getConfig(), { axis: this.axis });
      }
    }
    UnitNormalization.className = "UnitNormalization";
    return [GroupNormalization, UnitNormalization];
  }

  // -- functional operations (keras.ops / tf.* nodes) -------------------------------------------
  // Keras graphs record tensor operations as nodes; kconvert writes those tfjs-layers has no layer
  // for as these classes, each computing what numpy/Keras computes (configs reach them with every
  // string camelCased by tfjs-layers).  Axes count the batch axis, as Keras's do.
  function positive(axis, rank) {
    return axis < 0 ? axis + rank : axis;
  }

  function broadcastShapes(shapes) {
    const rank = Math.max(...shapes.map((s) => s.length));
    const out = new Array(rank).fill(1);
    for (const shape of shapes) {
      const offset = rank - shape.length;
      shape.forEach((d, i) => {
        const at = i + offset;
        if (d == null) out[at] = out[at] === 1 ? null : out[at];
        else if (d !== 1) out[at] = d;
      });
    }
    return out;
  }

  // python's slice(start, stop, step).indices(dim), as the list of indices it takes
  function sliceIndices(start, stop, step, dim) {
    const s = step == null ? 1 : step;
    const lower = s > 0 ? 0 : -1;
    const upper = s > 0 ? dim : dim - 1;
    const clamp = (v, dflt) => {
      if (v == null) return dflt;
      return v < 0 ? Math.max(v + dim, lower) : Math.min(v, upper);
    };
    const from = clamp(start, s > 0 ? lower : upper);
    const to = clamp(stop, s > 0 ? upper : lower);
    const out = [];
    for (let i = from; s > 0 ? i < to : i > to; i += s) out.push(i);
    return out;
  }

  function defineOperations(tf) {
    const BINARY = {
      add: tf.add, subtract: tf.sub, multiply: tf.mul, divide: tf.div, maximum: tf.maximum,
      minimum: tf.minimum, power: tf.pow,
    };
    const UNARY = {
      exp: tf.exp, sqrt: tf.sqrt, cast: (x) => tf.cast(x, "float32"),
    };
    const REDUCE = { mean: tf.mean, sum: tf.sum, max: tf.max, min: tf.min };

    function known(table, name, what, layer) {
      if (!(name in table)) throw new Error(`${layer}: unknown ${what} ${name}`);
      return table[name];
    }

    // op(x, y) of two tensors (numpy broadcasting), or of one tensor and `constant`
    class BinaryOp extends tf.layers.Layer {
      constructor(args) {
        super(args);
        this.op = args.op;
        this.fn = known(BINARY, args.op, "binary operation", this.name);
        this.constant = args.constant == null ? null : args.constant;
        this.constantFirst = args.constantFirst === true;
      }

      computeOutputShape(inputShape) {
        return Array.isArray(inputShape[0]) ? broadcastShapes(inputShape) : inputShape;
      }

      call(inputs) {
        return tf.tidy(() => {
          const xs = Array.isArray(inputs) ? inputs : [inputs];
          if (this.constant == null) return this.fn(xs[0], xs[1]);
          const k = tf.scalar(this.constant, "float32");
          return this.constantFirst ? this.fn(k, xs[0]) : this.fn(xs[0], k);
        });
      }

      getConfig() {
        return Object.assign(super.getConfig(), { op: this.op, constant: this.constant,
                                                  constantFirst: this.constantFirst });
      }
    }
    BinaryOp.className = "KConvertBinaryOp";

    class UnaryOp extends tf.layers.Layer {
      constructor(args) {
        super(args);
        this.op = args.op;
        this.fn = known(UNARY, args.op, "unary operation", this.name);
      }

      call(inputs) {
        return tf.tidy(() => this.fn(single(inputs)));
      }

      getConfig() {
        return Object.assign(super.getConfig(), { op: this.op });
      }
    }
    UnaryOp.className = "KConvertUnaryOp";

    class Reduce extends tf.layers.Layer {
      constructor(args) {
        super(args);
        this.op = args.op;
        this.fn = known(REDUCE, args.op, "reduction", this.name);
        this.axis = args.axis.slice();
        this.keepdims = args.keepdims === true;
      }

      axes(rank) {
        return this.axis.map((a) => positive(a, rank));
      }

      computeOutputShape(inputShape) {
        const axes = this.axes(inputShape.length);
        if (this.keepdims) return inputShape.map((d, i) => (axes.includes(i) ? 1 : d));
        return inputShape.filter((_, i) => !axes.includes(i));
      }

      call(inputs) {
        return tf.tidy(() => {
          const x = single(inputs);
          return this.fn(x, this.axes(x.rank), this.keepdims);
        });
      }

      getConfig() {
        return Object.assign(super.getConfig(), { op: this.op, axis: this.axis, keepdims: this.keepdims });
      }
    }
    Reduce.className = "KConvertReduce";

    // axes of length 1 inserted at `axis` (positions in the output) or removed from it: a reshape
    class AxesOfOne extends tf.layers.Layer {
      constructor(args) {
        super(args);
        this.axis = args.axis.slice();
      }

      call(inputs) {
        return tf.tidy(() => {
          const x = single(inputs);
          return tf.reshape(x, this.computeOutputShape(x.shape));
        });
      }

      getConfig() {
        return Object.assign(super.getConfig(), { axis: this.axis });
      }
    }

    class ExpandDims extends AxesOfOne {
      computeOutputShape(inputShape) {
        const rank = inputShape.length + this.axis.length;
        const axes = this.axis.map((a) => positive(a, rank));
        const rest = inputShape.slice();
        const out = [];
        for (let i = 0; i < rank; i++) out.push(axes.includes(i) ? 1 : rest.shift());
        return out;
      }
    }
    ExpandDims.className = "KConvertExpandDims";

    class Squeeze extends AxesOfOne {
      computeOutputShape(inputShape) {
        const axes = this.axis.map((a) => positive(a, inputShape.length));
        return inputShape.filter((_, i) => !axes.includes(i));
      }
    }
    Squeeze.className = "KConvertSqueeze";

    // x[items] with numpy's basic indexing: each item {what: index|slice|newaxis|ellipsis, start,
    // stop, step}; the axes are taken by gathering the indices each slice selects
    class GetItem extends tf.layers.Layer {
      constructor(args) {
        super(args);
        this.items = args.items.map((item) => Object.assign({}, item));
      }

      expanded(rank) {
        const consuming = this.items.filter((i) => i.what === "index" || i.what === "slice").length;
        const items = this.items.slice();
        if (!items.some((i) => i.what === "ellipsis")) items.push({ what: "ellipsis" });
        const at = items.findIndex((i) => i.what === "ellipsis");
        const fill = new Array(rank - consuming).fill({ what: "slice" });
        return [...items.slice(0, at), ...fill, ...items.slice(at + 1)];
      }

      computeOutputShape(inputShape) {
        const out = [];
        let axis = 0;
        for (const item of this.expanded(inputShape.length)) {
          if (item.what === "newaxis") { out.push(1); continue; }
          const dim = inputShape[axis++];
          if (item.what === "index") continue;
          out.push(dim == null ? null : sliceIndices(item.start, item.stop, item.step, dim).length);
        }
        return out;
      }

      call(inputs) {
        return tf.tidy(() => {
          let x = single(inputs);
          const items = this.expanded(x.rank);
          let axis = 0; // the axis of x the next consuming item takes
          const shape = [];
          for (const item of items) {
            if (item.what === "newaxis") { shape.push(1); continue; }
            const dim = x.shape[axis];
            if (item.what === "index") {
              x = tf.gather(x, [item.start < 0 ? item.start + dim : item.start], axis);
            } else {
              const full = item.start == null && item.stop == null && (item.step == null || item.step === 1);
              if (!full) x = tf.gather(x, sliceIndices(item.start, item.stop, item.step, dim), axis);
              shape.push(x.shape[axis]);
            }
            axis++;
          }
          return tf.reshape(x, shape);
        });
      }

      getConfig() {
        return Object.assign(super.getConfig(), { items: this.items });
      }
    }
    GetItem.className = "KConvertGetItem";

    class Cumsum extends tf.layers.Layer {
      constructor(args) {
        super(args);
        this.axis = args.axis;
      }

      call(inputs) {
        return tf.tidy(() => {
          const x = single(inputs);
          return tf.cumsum(x, positive(this.axis, x.rank));
        });
      }

      getConfig() {
        return Object.assign(super.getConfig(), { axis: this.axis });
      }
    }
    Cumsum.className = "KConvertCumsum";
    return [BinaryOp, UnaryOp, Reduce, ExpandDims, Squeeze, GetItem, Cumsum];
  }

  // -- Discretization / CategoryEncoding / IntegerLookup --------------------------------------
  // Values to int32 category indices (floats rounded), then Keras's encode_categorical_inputs by
  // outputMode: int keeps them; oneHot adds an axis of `depth` (a last axis of 1 is replaced);
  // multiHot / count replace the last axis by presence flags / counts.  Out-of-range indices
  // count nowhere.
  const ENCODED_MODES = ["int", "oneHot", "multiHot", "count"];

  function encodedShape(shape, mode, depth) {
    if (mode === "int") return shape;
    if (shape.length === 1 || (mode === "oneHot" && shape[shape.length - 1] === 1)) return [shape[0], depth];
    return mode === "oneHot" ? [...shape, depth] : [shape[0], depth];
  }

  function defineEncodings(tf) {
    function integers(x) {
      return x.dtype === "float32" ? tf.cast(tf.round(x), "int32") : tf.cast(x, "int32");
    }

    function encode(indices, mode, depth) {
      if (mode === "int") return indices;
      let ids = indices;
      if (mode === "oneHot" && ids.rank > 1 && ids.shape[ids.rank - 1] === 1) ids = tf.squeeze(ids, [ids.rank - 1]);
      if (mode !== "oneHot" && ids.rank === 1) ids = tf.expandDims(ids, -1);
      const hot = tf.cast(tf.equal(tf.expandDims(ids, -1), tf.range(0, depth, 1, "int32")), "float32");
      if (mode === "oneHot") return hot;
      const counts = tf.sum(hot, 1);
      return mode === "multiHot" ? tf.minimum(counts, 1) : counts;
    }

    class Encoded extends tf.layers.Layer {
      constructor(args, defaultMode) {
        super(args);
        this.outputMode = args.outputMode == null ? defaultMode : args.outputMode;
        if (!ENCODED_MODES.includes(this.outputMode)) {
          throw new Error(`${this.name}: unsupported outputMode ${this.outputMode}`);
        }
      }

      computeOutputShape(inputShape) {
        return encodedShape(inputShape, this.outputMode, this.depth());
      }

      call(inputs) {
        return tf.tidy(() => encode(this.indices(single(inputs)), this.outputMode, this.depth()));
      }

      getConfig() {
        return Object.assign(super.getConfig(), { outputMode: this.outputMode });
      }
    }

    // the number of bin boundaries at or below each value (float32 comparisons)
    class Discretization extends Encoded {
      constructor(args) {
        super(args, "int");
        this.binBoundaries = args.binBoundaries.slice();
      }

      depth() {
        return this.binBoundaries.length + 1;
      }

      indices(x) {
        const above = tf.greaterEqual(tf.expandDims(tf.cast(x, "float32"), -1), tf.tensor1d(this.binBoundaries));
        return tf.sum(tf.cast(above, "int32"), -1);
      }

      getConfig() {
        return Object.assign(super.getConfig(), { binBoundaries: this.binBoundaries });
      }
    }
    Discretization.className = "Discretization";

    class CategoryEncoding extends Encoded {
      constructor(args) {
        super(args, "multiHot");
        this.numTokens = args.numTokens;
      }

      depth() {
        return this.numTokens;
      }

      indices(x) {
        return integers(x);
      }

      getConfig() {
        return Object.assign(super.getConfig(), { numTokens: this.numTokens });
      }
    }
    CategoryEncoding.className = "CategoryEncoding";

    // index 0 for the mask token (int output only), then numOovIndices slots (value floor-mod
    // slots), then the vocabulary; inverted, indices back to values (mask slot -> maskToken,
    // others -> oovToken)
    class IntegerLookup extends Encoded {
      constructor(args) {
        super(args, "int");
        this.vocabulary = args.vocabulary.slice();
        this.numOovIndices = args.numOovIndices == null ? 1 : args.numOovIndices;
        this.maskToken = args.maskToken == null ? null : args.maskToken;
        this.oovToken = args.oovToken == null ? -1 : args.oovToken;
        this.invert = args.invert === true;
        this.masked = this.maskToken != null && this.outputMode === "int" ? 1 : 0;
        this.offset = this.masked + this.numOovIndices;
      }

      depth() {
        return this.offset + this.vocabulary.length;
      }

      indices(x) {
        const ids = integers(x);
        const fill = (value) => tf.fill(ids.shape, value, "int32");
        const vocabulary = tf.tensor1d(this.vocabulary.length ? this.vocabulary : [0], "int32");
        if (this.invert) {
          const slot = tf.sub(ids, this.offset);
          const known = tf.logicalAnd(tf.greaterEqual(slot, 0), tf.less(slot, this.vocabulary.length));
          const clipped = tf.cast(tf.clipByValue(slot, 0, Math.max(this.vocabulary.length - 1, 0)), "int32");
          const values = tf.gather(vocabulary, clipped); // (tfjs's clipByValue gives float32)
          let out = tf.where(known, values, fill(this.oovToken));
          if (this.maskToken != null) out = tf.where(tf.equal(ids, 0), fill(this.maskToken), out);
          return out;
        }
        let index = tf.add(tf.mod(ids, this.numOovIndices), this.masked);
        if (this.vocabulary.length) {
          const matches = tf.cast(tf.equal(tf.expandDims(ids, -1), vocabulary), "int32");
          const found = tf.cast(tf.max(matches, -1), "bool");
          index = tf.where(found, tf.add(tf.cast(tf.argMax(matches, -1), "int32"), this.offset), index);
        }
        if (this.maskToken != null) index = tf.where(tf.equal(ids, this.maskToken), fill(this.masked ? 0 : -1), index);
        return index;
      }

      getConfig() {
        return Object.assign(super.getConfig(), {
          vocabulary: this.vocabulary, numOovIndices: this.numOovIndices, maskToken: this.maskToken,
          oovToken: this.oovToken, invert: this.invert,
        });
      }
    }
    IntegerLookup.className = "IntegerLookup";
    return [Discretization, CategoryEncoding, IntegerLookup];
  }

  const REGISTERED = typeof Symbol === "function" ? Symbol.for("kconvert-layers") : "__kconvertLayers";

  /** Register the classes with `tf` (the @tensorflow/tfjs module or the global `tf`); returns their names. */
  function register(tf) {
    if (!tf || !tf.serialization || !tf.layers) throw new Error("kconvert-layers: register(tf) needs @tensorflow/tfjs");
    const map = tf.serialization.SerializationMap.getMap().classNameMap;
    if (map.GRU && map.GRU[0][REGISTERED] === VERSION) return names(map);
    const classes = [
      ...defineGru(tf, map),
      ...defineLocallyConnected(tf, 1),
      ...defineLocallyConnected(tf, 2),
      ...defineMultiHeadAttention(tf),
      ...defineEinsumDense(tf),
      ...defineNormalizations(tf),
      ...defineOperations(tf),
      ...defineEncodings(tf),
    ];
    for (const cls of classes) {
      cls[REGISTERED] = VERSION;
      tf.serialization.registerClass(cls, "kconvert");
    }
    return names(map);
  }

  function names(map) {
    return Object.keys(map).filter((name) => map[name][0][REGISTERED] === VERSION).sort();
  }

  return { register, version: VERSION };
});
