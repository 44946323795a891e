//! The COCO-80 classes as the official annotation files number them (ids 1–90 with gaps) with their
//! supercategories. Detectors trained on COCO output 80 scores in this order; datasets written for
//! COCO tools must use these ids, not 0–79, or they silently disagree with every COCO-trained model.

use serde::{Deserialize, Serialize};

/// A category as COCO files write it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CocoCategory {
    pub id: u32,
    pub name: String,
    pub supercategory: String,
}

/// The COCO category of each class index of a detector's label list; `None` for placeholder names
/// ("N/A", "") that some exports keep to align ids. COCO-80 in model order gets the official ids;
/// a list indexed by COCO id (DETR exports: `id2label` 0–90 with "N/A" gaps) keeps its indexes as
/// ids; any other list is numbered from 1.
pub fn categories(labels: &[String]) -> Vec<Option<CocoCategory>> {
    let official = |name: &str| COCO80.iter().find(|c| c.name == name);
    let is_coco80 = labels.len() == 80 && labels.iter().zip(&COCO80).all(|(l, c)| l == c.name);
    let by_coco_id = labels.len() > 80
        && COCO80
            .iter()
            .all(|c| labels.get(c.id as usize).is_some_and(|l| l == c.name));
    labels
        .iter()
        .enumerate()
        .map(|(i, l)| {
            if l.is_empty() || l == "N/A" {
                return None;
            }
            let id = if is_coco80 {
                COCO80[i].id
            } else if by_coco_id {
                i as u32
            } else {
                i as u32 + 1
            };
            let supercategory = official(l).map_or("object", |c| c.supercategory);
            Some(CocoCategory {
                id,
                name: l.clone(),
                supercategory: supercategory.into(),
            })
        })
        .collect()
}

/// One COCO category.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Category {
    pub id: u32,
    pub name: &'static str,
    pub supercategory: &'static str,
}

/// The 80 categories in model output order.
pub const COCO80: [Category; 80] = [
    Category {
        id: 1,
        name: "person",
        supercategory: "person",
    },
    Category {
        id: 2,
        name: "bicycle",
        supercategory: "vehicle",
    },
    Category {
        id: 3,
        name: "car",
        supercategory: "vehicle",
    },
    Category {
        id: 4,
        name: "motorcycle",
        supercategory: "vehicle",
    },
    Category {
        id: 5,
        name: "airplane",
        supercategory: "vehicle",
    },
    Category {
        id: 6,
        name: "bus",
        supercategory: "vehicle",
    },
    Category {
        id: 7,
        name: "train",
        supercategory: "vehicle",
    },
    Category {
        id: 8,
        name: "truck",
        supercategory: "vehicle",
    },
    Category {
        id: 9,
        name: "boat",
        supercategory: "vehicle",
    },
    Category {
        id: 10,
        name: "traffic light",
        supercategory: "outdoor",
    },
    Category {
        id: 11,
        name: "fire hydrant",
        supercategory: "outdoor",
    },
    Category {
        id: 13,
        name: "stop sign",
        supercategory: "outdoor",
    },
    Category {
        id: 14,
        name: "parking meter",
        supercategory: "outdoor",
    },
    Category {
        id: 15,
        name: "bench",
        supercategory: "outdoor",
    },
    Category {
        id: 16,
        name: "bird",
        supercategory: "animal",
    },
    Category {
        id: 17,
        name: "cat",
        supercategory: "animal",
    },
    Category {
        id: 18,
        name: "dog",
        supercategory: "animal",
    },
    Category {
        id: 19,
        name: "horse",
        supercategory: "animal",
    },
    Category {
        id: 20,
        name: "sheep",
        supercategory: "animal",
    },
    Category {
        id: 21,
        name: "cow",
        supercategory: "animal",
    },
    Category {
        id: 22,
        name: "elephant",
        supercategory: "animal",
    },
    Category {
        id: 23,
        name: "bear",
        supercategory: "animal",
    },
    Category {
        id: 24,
        name: "zebra",
        supercategory: "animal",
    },
    Category {
        id: 25,
        name: "giraffe",
        supercategory: "animal",
    },
    Category {
        id: 27,
        name: "backpack",
        supercategory: "accessory",
    },
    Category {
        id: 28,
        name: "umbrella",
        supercategory: "accessory",
    },
    Category {
        id: 31,
        name: "handbag",
        supercategory: "accessory",
    },
    Category {
        id: 32,
        name: "tie",
        supercategory: "accessory",
    },
    Category {
        id: 33,
        name: "suitcase",
        supercategory: "accessory",
    },
    Category {
        id: 34,
        name: "frisbee",
        supercategory: "sports",
    },
    Category {
        id: 35,
        name: "skis",
        supercategory: "sports",
    },
    Category {
        id: 36,
        name: "snowboard",
        supercategory: "sports",
    },
    Category {
        id: 37,
        name: "sports ball",
        supercategory: "sports",
    },
    Category {
        id: 38,
        name: "kite",
        supercategory: "sports",
    },
    Category {
        id: 39,
        name: "baseball bat",
        supercategory: "sports",
    },
    Category {
        id: 40,
        name: "baseball glove",
        supercategory: "sports",
    },
    Category {
        id: 41,
        name: "skateboard",
        supercategory: "sports",
    },
    Category {
        id: 42,
        name: "surfboard",
        supercategory: "sports",
    },
    Category {
        id: 43,
        name: "tennis racket",
        supercategory: "sports",
    },
    Category {
        id: 44,
        name: "bottle",
        supercategory: "kitchen",
    },
    Category {
        id: 46,
        name: "wine glass",
        supercategory: "kitchen",
    },
    Category {
        id: 47,
        name: "cup",
        supercategory: "kitchen",
    },
    Category {
        id: 48,
        name: "fork",
        supercategory: "kitchen",
    },
    Category {
        id: 49,
        name: "knife",
        supercategory: "kitchen",
    },
    Category {
        id: 50,
        name: "spoon",
        supercategory: "kitchen",
    },
    Category {
        id: 51,
        name: "bowl",
        supercategory: "kitchen",
    },
    Category {
        id: 52,
        name: "banana",
        supercategory: "food",
    },
    Category {
        id: 53,
        name: "apple",
        supercategory: "food",
    },
    Category {
        id: 54,
        name: "sandwich",
        supercategory: "food",
    },
    Category {
        id: 55,
        name: "orange",
        supercategory: "food",
    },
    Category {
        id: 56,
        name: "broccoli",
        supercategory: "food",
    },
    Category {
        id: 57,
        name: "carrot",
        supercategory: "food",
    },
    Category {
        id: 58,
        name: "hot dog",
        supercategory: "food",
    },
    Category {
        id: 59,
        name: "pizza",
        supercategory: "food",
    },
    Category {
        id: 60,
        name: "donut",
        supercategory: "food",
    },
    Category {
        id: 61,
        name: "cake",
        supercategory: "food",
    },
    Category {
        id: 62,
        name: "chair",
        supercategory: "furniture",
    },
    Category {
        id: 63,
        name: "couch",
        supercategory: "furniture",
    },
    Category {
        id: 64,
        name: "potted plant",
        supercategory: "furniture",
    },
    Category {
        id: 65,
        name: "bed",
        supercategory: "furniture",
    },
    Category {
        id: 67,
        name: "dining table",
        supercategory: "furniture",
    },
    Category {
        id: 70,
        name: "toilet",
        supercategory: "furniture",
    },
    Category {
        id: 72,
        name: "tv",
        supercategory: "electronic",
    },
    Category {
        id: 73,
        name: "laptop",
        supercategory: "electronic",
    },
    Category {
        id: 74,
        name: "mouse",
        supercategory: "electronic",
    },
    Category {
        id: 75,
        name: "remote",
        supercategory: "electronic",
    },
    Category {
        id: 76,
        name: "keyboard",
        supercategory: "electronic",
    },
    Category {
        id: 77,
        name: "cell phone",
        supercategory: "electronic",
    },
    Category {
        id: 78,
        name: "microwave",
        supercategory: "appliance",
    },
    Category {
        id: 79,
        name: "oven",
        supercategory: "appliance",
    },
    Category {
        id: 80,
        name: "toaster",
        supercategory: "appliance",
    },
    Category {
        id: 81,
        name: "sink",
        supercategory: "appliance",
    },
    Category {
        id: 82,
        name: "refrigerator",
        supercategory: "appliance",
    },
    Category {
        id: 84,
        name: "book",
        supercategory: "indoor",
    },
    Category {
        id: 85,
        name: "clock",
        supercategory: "indoor",
    },
    Category {
        id: 86,
        name: "vase",
        supercategory: "indoor",
    },
    Category {
        id: 87,
        name: "scissors",
        supercategory: "indoor",
    },
    Category {
        id: 88,
        name: "teddy bear",
        supercategory: "indoor",
    },
    Category {
        id: 89,
        name: "hair drier",
        supercategory: "indoor",
    },
    Category {
        id: 90,
        name: "toothbrush",
        supercategory: "indoor",
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_increase_and_names_are_unique() {
        assert!(COCO80.windows(2).all(|w| w[0].id < w[1].id));
        assert_eq!((COCO80[0].id, COCO80[79].id), (1, 90));
        let names: std::collections::HashSet<_> = COCO80.iter().map(|c| c.name).collect();
        assert_eq!(names.len(), 80);
    }

    #[test]
    fn category_ids_follow_the_label_list_convention() {
        let coco80: Vec<String> = COCO80.iter().map(|c| c.name.to_string()).collect();
        let c = categories(&coco80);
        assert_eq!(c[0].as_ref().unwrap().id, 1);
        assert_eq!(c[79].as_ref().unwrap().id, 90);
        assert_eq!(c[79].as_ref().unwrap().supercategory, "indoor");
        let mut by_id = vec!["N/A".to_string(); 91];
        for k in &COCO80 {
            by_id[k.id as usize] = k.name.into();
        }
        let c = categories(&by_id);
        assert!(c[0].is_none() && c[12].is_none());
        assert_eq!(c[90].as_ref().unwrap().name, "toothbrush");
        assert_eq!(c[90].as_ref().unwrap().id, 90);
        let own = categories(&["crack".into(), "dent".into()]);
        assert_eq!(own[1].as_ref().unwrap().id, 2);
        assert_eq!(own[1].as_ref().unwrap().supercategory, "object");
    }
}
